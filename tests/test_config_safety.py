"""Issue 9, items 2, 13 and 14: a run is named by its id and nothing else, a configuration is checked field by
field against its types, and every option that cannot run is refused before a run folder exists."""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field

import pytest
from streamlit.testing.v1 import AppTest

from core import dataclass_json, models
from core.cli import main
from core.data import dataset
from core.data.corpus import sample_texts
from core.errors import UserError
from core.train.config import TrainConfig, check
from dashboard.i18n import LANGUAGES, texts
from tests.conftest import ROOT, run_core

APP = str(ROOT / "dashboard" / "app.py")


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def no_runs(workspace) -> bool:
    return not workspace.runs_dir.exists() or not any(workspace.runs_dir.iterdir())


@pytest.fixture
def outside(workspace, tmp_path):
    """A run-looking folder beside `runs/` (reached by `../x`) whose log must never be shown."""
    folder = workspace.root / "x"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(TrainConfig(dataset="d").to_json())
    (folder / "status.json").write_text('{"state": "failed", "error": "SECRET-STATUS"}')
    (folder / "train.log").write_text("SECRET-LOG-LINE\n")
    workspace.runs_dir.mkdir(parents=True, exist_ok=True)
    (workspace.runs_dir / "real").mkdir()
    (workspace.runs_dir / "real" / "config.json").write_text(TrainConfig(dataset="d").to_json())
    return folder


# ---- item 2: a run id is a run id ---------------------------------------------------------------------------

def test_run_dir_takes_only_the_id_of_a_run_in_runs(workspace, outside):
    assert workspace.run_dir("real") == workspace.runs_dir / "real"
    (workspace.runs_dir / "link").symlink_to(outside, target_is_directory=True)  # a run id that leads elsewhere
    (workspace.runs_dir / "no-files").mkdir()  # a folder, but no run
    for name in ["../x", str(outside), "/etc", "real/../../x", "real/", "..", ".", "", ".hidden", "link", "no-files",
                 "nope", "real\\..", "a" * 300, None]:
        with pytest.raises(UserError, match="no such run"):
            workspace.run_dir(name)


@pytest.mark.parametrize("requested", ["../x", "/etc", "OUTSIDE", "real/../../x"])
def test_train_page_shows_no_such_run_and_nothing_of_another_folder(workspace, outside, requested):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "en"
    at.query_params["run"] = str(outside) if requested == "OUTSIDE" else requested
    at.run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert texts("en")["run.no_such_run"] in [e.value for e in at.error]
    shown = [e.value for kind in ("code", "text", "markdown", "caption", "error", "subheader", "metric")
             for e in getattr(at, kind)]
    assert not any("SECRET" in str(value) for value in shown)
    assert not any(str(value).startswith("Run ") for value in (s.value for s in at.subheader))  # no run panel


def test_train_page_still_shows_a_real_run(workspace, outside):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "en"
    at.query_params["run"] = "real"
    at.run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception and "Run real" in [s.value for s in at.subheader]


def test_cli_refuses_a_path_where_a_run_id_belongs(workspace, outside):
    for args in [("stop", "../x"), ("stop", str(outside)), ("resume", "/etc"), ("resume", "real/../../x")]:
        line = one_error_line(run_core(workspace, *args))
        assert "no such run" in line, (args, line)
    assert not (outside / "status.json").read_text().count("stopping")  # nothing was written there


def test_model_names_of_runs_stay_inside_the_run(workspace, outside):
    import shutil

    checkpoint = workspace.runs_dir / "real" / "checkpoint-5"
    shutil.copytree(workspace.starter_dir, checkpoint)
    for name, content in (("optimizer.pt", "state"), ("scheduler.pt", "state"), ("trainer_state.json", '{"global_step": 5}')):
        (checkpoint / name).write_text(content)  # a complete checkpoint: only those count (issue 9, item 8)
    assert models.resolve("real/checkpoint-5").location == str(workspace.runs_dir / "real" / "checkpoint-5")
    with pytest.raises(UserError, match="run 'real' has no checkpoint-9: its saved models are real/checkpoint-5"):
        models.resolve("real/checkpoint-9")
    (workspace.runs_dir / "link").symlink_to(outside, target_is_directory=True)
    assert models.resolve("link").kind == "hub"  # not a run: a symlink out of runs/ is no run of this workspace
    with pytest.raises(UserError, match="no such run"):
        from core import evaluation

        evaluation.run_models("../x", workspace)


# ---- item 13: types are checked against the dataclass -------------------------------------------------------

@pytest.mark.parametrize("data, words", [
    ({"batch_size": "8"}, ["batch_size", "whole number", 'the string "8"']),
    ({"batch_size": True}, ["batch_size", "whole number", "true"]),
    ({"block_size": 8.5}, ["block_size", "whole number or null", "8.5"]),
    ({"learning_rate": "1e-4"}, ["learning_rate", "a number or null", '"1e-4"']),
    ({"epochs": math.nan}, ["epochs", "finite number", "nan"]),
    ({"warmup_ratio": math.inf}, ["warmup_ratio", "finite number", "inf"]),
    ({"gradient_checkpointing": 1}, ["gradient_checkpointing", "true or false", "1"]),
    ({"gallery_prompts": "hello"}, ["gallery_prompts", "a list of strings", '"hello"']),
    ({"gallery_prompts": ["ok", 3]}, ["gallery_prompts[1]", "a string", "3"]),
    ({"dataset": None}, ["dataset", "a string", "null"]),
])
def test_a_wrong_type_is_named_with_what_was_wanted(data, words):
    with pytest.raises(UserError) as caught:
        TrainConfig.from_dict(data)
    message = str(caught.value)
    assert message.startswith("the training configuration: ") and "\n" not in message
    assert all(word in message for word in words), message


def test_json_numbers_are_accepted_as_json_writes_them():
    config = TrainConfig.from_dict({"epochs": 2, "block_size": 128.0, "learning_rate": None, "batch_size": 4})
    assert (config.epochs, config.block_size, config.learning_rate) == (2.0, 128, None)
    assert type(config.epochs) is float and type(config.block_size) is int
    with pytest.raises(UserError, match=r"unknown option\(s\) lerning_rate: known are dataset, model"):
        TrainConfig.from_dict({"lerning_rate": 1e-4})
    with pytest.raises(UserError, match="must be a JSON object"):
        TrainConfig.from_dict(["dataset"])


@dataclass
class _Step:
    name: str  # required
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class _Recipe:
    steps: list[_Step]
    sizes: tuple[int, ...] = (1,)
    note: str | None = None


def test_the_mechanism_serves_any_dataclass():
    """The one reader the decoding settings and the cleaning recipe can use too: nested, lists, tuples, dicts."""
    recipe = dataclass_json.from_dict(_Recipe, {"steps": [{"name": "a", "params": {"x": 1}}], "sizes": [2, 3]})
    assert recipe == _Recipe([_Step("a", {"x": 1.0})], (2, 3))
    for data, message in [
        ({"steps": [{"params": {}}]}, "recipe.json: steps[0]: name missing"),
        ({"steps": [{"name": "a", "params": {"x": "1"}}]}, 'recipe.json: steps[0]: params.x must be a number, not the string "1"'),
        ({"steps": [], "sizes": [1, False]}, "recipe.json: sizes[1] must be a whole number, not false"),
        ({"steps": [{"name": "a", "colour": 1}]}, "recipe.json: steps[0]: unknown option(s) colour: known are name, params"),
        ({"steps": {}}, "recipe.json: steps must be a list of objects, not the object {}"),
    ]:
        with pytest.raises(UserError) as caught:
            dataclass_json.from_dict(_Recipe, data, where="recipe.json")
        assert str(caught.value) == message


def test_a_bad_config_file_is_one_error_line(workspace, tmp_path):
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    files = {
        "not-json.json": ("{'batch_size': 8}", "is not valid JSON: Expecting property name enclosed in double quotes "
                          "(line 1, column 2)"),
        "digits.json": ('{"seed": ' + "7" * 5000 + "}", "is not valid JSON for the lab: a number with more than"),
        "deep.json": ("[" * 100_000 + "]" * 100_000, "is not valid JSON for the lab: nested too deeply"),
        "string.json": ('{"batch_size": "8"}', 'batch_size must be a whole number, not the string "8"'),
        "unknown.json": ('{"bach_size": 8}', "unknown option(s) bach_size"),
        "list.json": ("[1, 2]", "must be a JSON object"),
        "latin1.json": (b'{"dataset": "caf\xe9"}', "cannot read"),
        "missing.json": (None, "cannot read"),
    }
    for name, (content, words) in files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        line = one_error_line(run_core(workspace, "train", "--data", "sample", "--config", str(path)))
        assert f"the config file {path}" in line and words in line, (name, line)
    assert no_runs(workspace)


# ---- item 14: refused before a run exists -------------------------------------------------------------------

def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.parametrize("options, words", [
    (["--learning-rate", "nan"], "learning_rate must be a finite number"),
    (["--learning-rate", "inf"], "learning_rate must be a finite number"),
    (["--epochs", "nan", "--max-steps", "0"], "epochs must be a finite number"),
    (["--epochs", "inf", "--max-steps", "0"], "epochs must be a finite number"),
    (["--device", "bogus"], "unknown device 'bogus'"),
    (["--device", "CUDA_MISSING"], "there is no GPU cuda:"),
    (["--num-processes", "-3"], "num_processes must be 0 or more (got -3)"),
    # issue 20, item 8: values that used to end in a failed run or nonsense
    (["--seed", "-1"], "seed must be 0 or more (got -1)"),
    (["--seed", str(2**70)], "seed must be 4294967295 or less"),
    (["--optim", "bogus_optim"], "invalid choice: 'bogus_optim'"),
    (["--method", "lora", "--lora-target", "nonexistent_mod"], "no module named nonexistent_mod"),
    (["--gallery-max-new-tokens", "-1"], "gallery_max_new_tokens must be 1 or more (got -1)"),
    (["--save-total-limit", "-1"], "save_total_limit must be 1 or more (got -1)"),
    (["--batch-size", "1000000000"], "batch_size must be 4096 or less"),
    (["--name", "a/b"], "'a/b' is not a usable run name"),
    (["--name", "../../x"], "'../../x' is not a usable run name"),
    (["--name", ".hidden"], "'.hidden' is not a usable run name"),
    (["--model", "quill-lab/no-such-model"], "is not cached and HF_HUB_OFFLINE is set"),
    (["--block-size", "1024"], "longer than the model's context of 512"),
    (["--precision", "fp16", "--device", "cpu"], "fp16 needs a CUDA GPU"),
])
def test_train_refuses_before_a_run_folder_exists(workspace, options, words, capsys):
    # In this process, through the command line's own `main`: a `python -m core` start-up per case would cost more
    # than the check (test_cli_train starts the real process for its refusals).
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    options = [f"cuda:{_cuda_count()}" if o == "CUDA_MISSING" else o for o in options]
    code = main(["train", "--data", "sample", "--model", "starter", "--max-steps", "2", "--block-size", "32", *options])
    line = one_error_line(subprocess.CompletedProcess([], code, "", capsys.readouterr().err))
    assert words in line, line
    assert no_runs(workspace)


@pytest.mark.parametrize("options, words", [
    (["--batch-size", "1.5,2"], "'1.5,2' is not a list (a,b,c) or a range (low:high) of numbers for batch_size"),
    (["--batch-size", "2,1000000000"], "batch_size must be 4096 or less"),
    (["--learning-rate", "1e-3,3e-3", "--name", "../../x"], "'../../x' is not a usable sweep name"),
])
def test_sweep_refuses_before_anything_exists(workspace, options, words, capsys):
    """Issue 20, item 8: a sweep axis value that is not the option's kind, or breaks its limits, is refused with
    one line and no sweep, study or run is made (the axes' flags are TrainConfig's own: `--warmup-ratio`)."""
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    code = main(["sweep", "--data", "sample", "--model", "starter", "--max-steps", "2", "--learning-rate", "1e-3,3e-3",
                 "--warmup-ratio", "0.1", *options])
    line = one_error_line(subprocess.CompletedProcess([], code, "", capsys.readouterr().err))
    assert words in line, line
    assert no_runs(workspace) and not (workspace.root / "sweeps").exists() and not workspace.db_path.exists()


def test_eval_of_a_missing_run_says_so(workspace, tmp_path):
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    line = one_error_line(run_core(workspace, "eval", "--model", "nosuchrun", "--data", "sample",
                                   HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf")))
    assert "no model or run named 'nosuchrun'" in line and "not cached" not in line, line
    assert "python -m core runs" in line


@pytest.mark.parametrize("changes, gpus, code", [
    (dict(learning_rate=math.nan), None, ["not_finite"]),
    (dict(learning_rate=math.inf), None, ["not_finite"]),  # one message, not also "will diverge"
    (dict(warmup_ratio=math.nan), None, ["not_finite"]),
    (dict(weight_decay=-math.inf), None, ["not_finite"]),
    (dict(device="gpu"), None, ["device"]),
    (dict(device="cuda:x"), None, ["device"]),
    (dict(num_processes=-1), None, ["too_small"]),
    (dict(device="cuda:1"), 1, ["device_missing"]),
    (dict(device="cuda:0"), 1, []),
    (dict(device="all", num_processes=2), 0, []),  # DDP on the CPU, as the tests run it
    (dict(precision="fp16", device="auto"), 0, ["fp16_cpu"]),
])
def test_check_knows_the_device_and_finite_numbers(changes, gpus, code):
    problems = check(TrainConfig(dataset="d", **changes), gpus=gpus)
    assert [p.code for p in problems] == code
    for problem in problems:  # the page shows each in both languages
        for lang in LANGUAGES:
            assert texts(lang)[f"problem.{problem.code}"].format(**problem.values)
