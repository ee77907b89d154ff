"""Issue 22, item 1: a run folder is one object. Its files are written and read back through `RunDir` only, and no
other module spells a run's file names."""

import re

import pytest

from core.errors import UserError
from core.train.config import TrainConfig
from core.train.run_dir import RunDir, check_name, checkpoint_step, is_final
from core.train.state import RunState
from core.workspace import Workspace
from tests.conftest import ROOT


def test_a_run_folder_round_trip_through_run_dir_only(tmp_path):
    workspace = Workspace(tmp_path)
    run = RunDir(workspace.runs_dir / "poems-1")
    run.path.mkdir(parents=True)
    assert not run.is_run() and run.load_status() == ({"state": RunState.QUEUED}, None)  # being created

    config = TrainConfig(dataset="poems", max_steps=4, gallery_prompts=["月"])
    run.write_config(config)
    run.update_status(state=RunState.RUNNING, pid=123, step=2, devices=["cpu"])
    run.append_metrics({"step": 1, "loss": 3.2, "tokens_per_s": 900.0})
    run.append_metrics({"step": 2, "eval_loss": 3.0, "perplexity": 20.1})
    run.append_sample({"step": 2, "prompt": "月", "text": "月光", "seed": 1234})
    run.log_file.write_text("line 1\nline 2\n", encoding="utf-8")

    again = RunDir(run.path)  # a fresh object reads what the first one wrote
    assert again.is_run() and workspace.runs() == [run.path] and workspace.run_dir("poems-1") == run.path
    assert again.config() == config and again.config_dict()["dataset"] == "poems"
    status, problem = again.load_status()
    assert problem is None and (status["state"], status["pid"], status["step"]) == (RunState.RUNNING, 123, 2)
    assert [m["step"] for m in again.metrics().records] == [1, 2] and again.metrics().problem is None
    assert again.samples().records == [{"step": 2, "prompt": "月", "text": "月光", "seed": 1234}]
    assert again.log_tail(1) == "line 2"
    assert Workspace.of_run(run.path) == workspace

    # checkpoints and final/ by name; the step of a checkpoint from its folder
    for step in (10, 2):
        again.checkpoint(step).mkdir()
    assert again.checkpoint_dirs() == [again.checkpoint(2), again.checkpoint(10)]
    assert checkpoint_step(again.checkpoint(10)) == 10 and checkpoint_step(again.final_dir) is None
    assert is_final(again.final_dir) and not is_final(again.checkpoint(2))


def test_damaged_files_read_as_problems_not_crashes(tmp_path):
    run = RunDir(tmp_path / "runs" / "r")
    run.path.mkdir(parents=True)
    run.status_file.write_text('{"state": "running", "pid": "12"}', encoding="utf-8")
    assert run.load_status() == ({}, "status.json: 'pid' is str, not an integer") and run.read_status() == {}
    run.metrics_file.write_text('{"step": 1}\n[1]\nnot json\n{"step": 3}\n{"step": 4', encoding="utf-8")
    lines = run.metrics()  # the torn last line is one being written: left out without a word
    assert [m["step"] for m in lines.records] == [1, 3] and lines.problem == "metrics.jsonl line 2: list instead of an object"
    with pytest.raises(UserError, match="config.json is missing"):
        run.config_dict()


@pytest.mark.parametrize("name", ["a/b", "../../x", ".hidden", "", "-x", "a" * 101, "a\0b", "a b"])
def test_run_names_are_refused_not_rewritten(name):
    with pytest.raises(UserError, match="is not a usable run name"):
        check_name(name)
    assert check_name("poems-2.b_诗") == "poems-2.b_诗"


# A run's own file names: config.json is also a model folder's (transformers') file, so it counts only when a run
# folder is joined with it.
RUN_FILES = re.compile(r"""["'](status\.json|metrics\.jsonl|samples\.jsonl|train(\.debug)?\.log)["']"""
                       r"""|f["']checkpoint-\{|\b(run_dir|run_path|run)\s*/\s*["'](config\.json|final|\.lock)["']"""
                       r"""|runs_dir\s*/[^\n]*/\s*["']config\.json["']""")


def test_no_other_module_builds_a_run_file_path():
    offenders = []
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py"), *(ROOT / "pages").glob("*.py")]:
        if path == ROOT / "core" / "train" / "run_dir.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if RUN_FILES.search(code) and not code.lstrip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
