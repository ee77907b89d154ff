"""Training that talks (issue 12, item 5): the worker's phases, library warnings kept out of train.log, charts only
with data, one gallery checkpoint at a time, and the TensorBoard-style debiased EMA."""

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.train import gallery, runs
from core.train.config import TrainConfig
from core.train.run_dir import RunDir
from dashboard.figures import smoothed
from dashboard.i18n import texts
from tests.test_pages import APP


def test_debiased_ema_starts_at_the_first_value_and_keeps_a_constant():
    assert smoothed([5.0, 1.0, 1.0])[0] == 5.0
    assert smoothed([3.0] * 50) == pytest.approx([3.0] * 50)
    assert smoothed([]) == []


def test_the_worker_writes_phases_and_keeps_library_warnings_out_of_train_log(trained_run):
    run_dir = trained_run.run_dir  # trained with a gallery prompt, so generation's warnings had their chance too
    status = runs.status(run_dir)
    assert status["state"] == "completed", runs.log_tail(run_dir)
    assert run_dir.name == "shared"  # the name asked for, not a generated one
    assert status["phase"] == "first_step" and status["phase_counts"]["blocks"] > 0
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    assert "warn" not in log.lower(), log
    assert (run_dir / "train.debug.log").is_file()


def _fake_run(workspace, name: str, *, phase: str | None, samples_at=()):
    run_dir = workspace.runs_dir / name
    run_dir.mkdir(parents=True)
    config = TrainConfig(dataset="sample")
    (run_dir / "config.json").write_text(config.to_json(), encoding="utf-8")
    status = {"state": "completed", "step": 20, "max_steps": 20, "started": time.time(), "ended": time.time()}
    if phase:
        status = {"state": "running", "step": 0, "max_steps": 20, "started": time.time(), "phase": phase,
                  "phase_counts": {"documents": 12}}
    (run_dir / "status.json").write_text(json.dumps(status), encoding="utf-8")
    for step in samples_at:  # the gallery as the trainer writes it: sample records
        RunDir(run_dir).append_sample(gallery.record(RunDir(run_dir), config, step, "The", f" sample at {step}").to_dict())
    return run_dir


def test_the_run_view_says_what_the_trainer_does_and_draws_no_empty_chart(workspace):
    _fake_run(workspace, "warming", phase="tokenizing")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["run"] = "warming"
    at.run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert texts("en")["train.phase.tokenizing"].format(documents=12) in [i.value for i in at.info]
    assert [c.key for c in at.get("plotly_chart") if c.key in ("loss.warming", "lr.warming")] == []


def test_the_gallery_shows_the_latest_checkpoint_with_a_slider(workspace):
    _fake_run(workspace, "done", phase=None, samples_at=(0, 10, 20))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["run"] = "done"
    at.run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [x.value for x in at.get("text")]
    assert any("sample at 20" in s for s in shown) and not any("sample at 10" in s for s in shown)
    at.select_slider(key="gallery.done").set_value(10).run()
    shown = [x.value for x in at.get("text")]
    assert any("sample at 10" in s for s in shown) and not any("sample at 20" in s for s in shown)
