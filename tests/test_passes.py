"""A from-scratch run fitted to the passes over its corpus it will make (core.train.callbacks.PassesCallback): its
dropout (none for a few passes, more for many; core.train.sizing.dropout_for), kept by the model it saves, and a
budget that would go over a small corpus too often ends after sizing.MAX_PASSES."""

from __future__ import annotations

import pytest

from core.train.sizing import DROPOUT_FROM_EPOCHS, MAX_PASSES, SMALL_CORPUS, dropout_for, max_passes
from tests.conftest import run_core


def test_more_passes_over_the_corpus_take_more_dropout():
    rates = [dropout_for(epochs) for epochs in (0.5, 3.7, 4.9, 5, 39, 40, 500)]
    assert rates[0] == rates[1] == 0.0  # a few passes: the slower CPU step is not worth it
    assert rates == sorted(rates) and rates[-1] == max(rate for _, rate in DROPOUT_FROM_EPOCHS)


@pytest.mark.slow
def test_a_run_of_many_passes_trains_and_saves_with_the_dropout_for_them(workspace):
    from core import models
    from core.train import runs

    _poems(workspace, copies=2)  # forty steps of 4 blocks of 32 tokens go over them many times
    done = run_core(workspace, "train", "--data", "poems", "--model", "starter", "--scratch-size", "2x32",
                    "--max-steps", "40", "--batch-size", "4", "--block-size", "32", "--eval-steps", "40",
                    "--device", "cpu", "--gallery-prompts", "床", "--gallery-max-new-tokens", "2", "--name", "many")
    assert done.returncode == 0, done.stderr
    status = runs.status(workspace.runs_dir / "many")
    assert status["state"] == "completed" and status["epochs_planned"] >= min(least for least, _ in DROPOUT_FROM_EPOCHS)
    assert status["dropout"] == dropout_for(status["epochs_planned"]) > 0
    _, model = models.load("many/final", workspace)
    assert model.config.resid_pdrop == model.config.embd_pdrop == status["dropout"]  # the saved model says it
    assert f"dropout {status['dropout']:g}" in (workspace.runs_dir / "many" / "train.log").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_budget_that_would_go_over_a_small_corpus_too_often_ends_after_the_passes_that_pay(workspace):
    import json

    from core import models
    from core.train import runs

    _poems(workspace, copies=12)  # ~600 characters: a tiny model makes hundreds of passes in a few seconds
    done = run_core(workspace, "train", "--data", "poems", "--model", "starter", "--scratch-size", "2x32",
                    "--time-budget", "6s", "--batch-size", "4", "--block-size", "32", "--device", "cpu",
                    "--gallery-prompts", "床", "--gallery-max-new-tokens", "2", "--name", "capped")
    assert done.returncode == 0, done.stderr
    run_dir = workspace.runs_dir / "capped"
    status = runs.status(run_dir)
    assert status["state"] == "completed" and status["epochs_projected"] > MAX_PASSES
    assert status["epochs_planned"] == MAX_PASSES and status["time_budget_s"] < 6  # the clock was shortened
    assert status["dropout"] == dropout_for(MAX_PASSES)
    last = [m for m in runs.read_metrics(run_dir) if m.get("epoch") is not None][-1]
    assert last["epoch"] < status["epochs_projected"]  # it ended before the passes the whole budget would make
    saved = json.loads((run_dir / status["last_checkpoint"] / "budget.json").read_text(encoding="utf-8"))
    assert saved["budget_s"] == pytest.approx(status["time_budget_s"], abs=0.1)  # a resume keeps the shorter clock
    assert models.load("capped/final", workspace)[1].num_parameters() > 0
    assert "more would learn them by heart" in (run_dir / "train.log").read_text(encoding="utf-8")


def _poems(workspace, copies: int) -> None:
    from core.data import dataset

    poems = ["床前明月光，疑是地上霜。举头望明月，低头思故乡。", "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
             "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"] * copies
    dataset.save(workspace.datasets_dir / "poems", poems, recipe={}, report={}, ratio=0.34, seed=0)


def test_only_a_small_corpus_caps_the_passes():
    assert max_passes(SMALL_CORPUS - 1) == MAX_PASSES and max_passes(SMALL_CORPUS) is None
