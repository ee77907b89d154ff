"""Training for a time: the budget's parsing and schedule, and a run of a few seconds that ends completed, evaluated
and saved (asserted on what the run recorded, not on the clock)."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.train.budget import EVALUATIONS, Clock, lr_factor, parse_duration
from core.train.config import TrainConfig, check
from tests.conftest import run_core


def test_durations_read_as_people_write_them():
    assert parse_duration("") is None
    assert parse_duration("90") == parse_duration("90s") == 90
    assert parse_duration("10m") == 600
    assert parse_duration("1h30m") == parse_duration("1.5h") == 5400
    for bad in ("ten minutes", "5x", "m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_schedule_warms_up_then_decays_to_zero_at_the_end_of_the_budget():
    factors = [lr_factor(p / 100, warmup=0.1, schedule="cosine") for p in range(101)]
    assert factors[0] == 0 and factors[10] == pytest.approx(1.0) and factors[100] == pytest.approx(0.0)
    assert factors.index(max(factors)) == 10 and all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert lr_factor(0.55, warmup=0.1, schedule="linear") == pytest.approx(0.5)


def test_a_resumed_clock_goes_on_from_the_time_spent():
    clock = Clock(600, spent_s=300)
    assert clock.progress() == pytest.approx(0.5)
    every = 600 / EVALUATIONS
    assert clock.next_eval_s == (300 // every + 1) * every  # the evaluations keep their places in the budget


def test_a_budget_that_cannot_be_read_is_a_problem_with_what_to_do(workspace, capsys):
    problems = check(TrainConfig(dataset="d", time_budget="ten minutes"))
    assert [p.code for p in problems] == ["time_budget"] and "10m" in problems[0].message
    assert not check(TrainConfig(dataset="d", time_budget="10m", epochs=0))  # a budget is a length of its own
    assert main(["train", "--data", "d", "--time-budget", "soon"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read the time budget 'soon'")


@pytest.mark.slow
def test_a_budget_of_seconds_ends_completed_evaluated_and_saved(workspace, tmp_path, monkeypatch):
    """The starter with a budget is the quick path: a model sized for it, with a tokenizer fitted to the dataset, that
    travels with the run (final/, the Playground's sampling, the export and its model card)."""
    from core import models
    from core.data import dataset
    from core.data.corpus import sample_texts
    from core.train import runs

    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    done = run_core(workspace, "train", "--data", "sample", "--model", "starter", "--time-budget", "4s",
                    "--batch-size", "4", "--device", "cpu", "--gallery-prompts", "The",
                    "--gallery-max-new-tokens", "4", "--logging-steps", "1", "--name", "budget")
    assert done.returncode == 0, done.stderr
    run_dir = workspace.runs_dir / "budget"
    status = runs.status(run_dir)
    assert status["state"] == "completed" and not status["stopped_early"]
    assert status["step"] == status["max_steps"] > 0  # ended by the clock, at the step it was at
    assert status["final_eval_loss"] > 0 and status["final_bits_per_char"] > 0
    metrics = runs.read_metrics(run_dir)
    evals = [m for m in metrics if m.get("eval_loss") is not None]
    assert evals and evals[-1]["step"] == status["step"]  # the last evaluation is of the last step
    rates = [m["learning_rate"] for m in metrics if m.get("learning_rate") is not None]
    # the schedule decays towards the end of the budget (lr_factor's tests above hold its shape); a loaded machine
    # may fit one logged step into 4 s, which shows no decay
    assert len(rates) == 1 or max(rates) > rates[-1]
    checkpoint = run_dir / status["last_checkpoint"]
    assert json.loads((checkpoint / "budget.json").read_text(encoding="utf-8"))["budget_s"] == 4
    tokenizer, model = models.load("budget/final", workspace)  # a loadable model
    assert model.num_parameters() > 0 and len(tokenizer) > 0

    # from scratch: sized, with the fitted tokenizer (a few hundred tokens, not the starter's 21,504)
    assert status["model_size"].startswith("4 layers x 128 wide") and "fitted vocabulary" in status["model_size"]
    assert len(tokenizer) < 1024 and model.config.vocab_size == len(tokenizer)
    from core.train.run_dir import RunDir

    assert "learning rate 0.002;" in RunDir(run_dir).log_file.read_text(encoding="utf-8")  # the small shape's rate
    out = tmp_path / "samples.jsonl"
    assert main(["sample", "--model", "budget/final", "--prompt", "The lighthouse", "--out", str(out)]) == 0
    samples = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert samples and all("\ufffd" not in s["text"] for s in samples)
    from transformers import AutoTokenizer

    from core.publish.export import export

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    export("budget/final", tmp_path / "exported", workspace=workspace)
    assert AutoTokenizer.from_pretrained(tmp_path / "exported").get_vocab() == tokenizer.get_vocab()
    card = (tmp_path / "exported" / "README.md").read_text(encoding="utf-8")
    assert "| budget/final |" in card and "bits per character" in card


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_train_page_shows_the_budget_the_size_and_why(workspace, lang):
    from dashboard.i18n import texts
    from tests.test_pages import _save_sample_dataset, open_page

    _save_sample_dataset(workspace)
    at = open_page("train", lang)
    assert at.text_input(key="train.time_budget").label == texts(lang)["train.time_budget"]
    at.selectbox(key="train.model").set_value("starter")
    at.text_input(key="train.time_budget").set_value("2m").run()
    assert not at.exception, [e.value for e in at.exception]
    line = next(i.value for i in at.info if "128" in i.value)
    expected = texts(lang)["train.size.line"].format(layers=4, width=128, context=128, vocabulary=texts(lang)[
        "train.size.fitted"], why=texts(lang)["train.size.budget"].format(budget="2m", chars=f"{_chars(workspace):,}"))
    assert line == expected
    at.text_input(key="train.time_budget").set_value("soon").run()  # a budget that cannot be read says what to do
    assert any(texts(lang)["problem.time_budget"].format(value="soon") == e.value for e in at.error)


def _chars(workspace) -> int:
    from core.data import dataset

    return dataset.info(workspace.datasets_dir / "sample").chars


def test_sweeps_take_a_budget_for_each_trial():
    from core.cli import build_parser

    args = build_parser().parse_args(["sweep", "--data", "d", "--learning-rate", "1e-3,3e-3", "--time-budget", "10m"])
    assert args.time_budget == "10m"
