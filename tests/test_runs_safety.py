"""Runs stay safe under bad luck (issue 9, items 8-11): a checkpoint counts only once complete, one run has one
trainer, reading a run never writes, and corrupt run files show as `unreadable (reason)` without taking anything
else down. Real files, real trainer subprocesses, the real `python -m core` and the real Train page."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import models
from core.data import dataset
from core.data.corpus import sample_texts
from core.errors import UserError
from core.train import gallery, runs
from core.train.config import TrainConfig
from dashboard.safe_text import md_escape
from tests.conftest import ROOT, core_env

WAIT_S = 240  # trainer subprocesses on a busy two-core machine: generous, but a hang still fails
QUICK = dict(dataset="sample", model="starter", block_size=32, batch_size=2, eval_steps=10, logging_steps=5,
             learning_rate=2e-3, device="cpu", gallery_prompts=[])


def _core(workspace, *args, **popen):
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(workspace), **popen)


def _env(workspace) -> dict[str, str]:
    env = core_env(QUILL_HOME=str(workspace.root), OMP_NUM_THREADS="1")
    env.pop("QUILL_FAULT", None)
    return env


def _loss_steps(run_dir: Path) -> list[int]:
    return [m["step"] for m in runs.read_metrics(run_dir) if "loss" in m]


def _trainers(run_dir: Path) -> int:
    """Trainer processes of this run alive right now, counted from /proc."""
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
            zombie = "\nState:\tZ" in (proc / "status").read_text() if cmdline else True
        except OSError:
            continue
        count += not zombie and b"core.train.worker" in cmdline and str(run_dir.resolve()).encode() in cmdline
    return count


@pytest.fixture
def sample(workspace):
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    yield workspace
    for run in runs.list_runs(workspace):  # a failed test must not leave a trainer behind
        if run["alive"]:
            os.killpg(os.getpgid(runs.read_status(Path(run["path"]))["pid"]), 9)


def _fake_run(workspace, name: str, status: str | None = None, metrics: str | None = None) -> Path:
    """A run folder as the trainer leaves it, with the given status.json and metrics.jsonl text."""
    run_dir = workspace.runs_dir / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(TrainConfig(**QUICK).to_json(), encoding="utf-8")
    if status is not None:
        (run_dir / "status.json").write_text(status, encoding="utf-8")
    if metrics is not None:
        (run_dir / "metrics.jsonl").write_text(metrics, encoding="utf-8")
    return run_dir


def _fake_checkpoint(run_dir: Path, step: int, starter: Path, *, state=True, optimizer=b"state") -> Path:
    path = run_dir / f"checkpoint-{step}"
    shutil.copytree(starter, path)
    (path / "optimizer.pt").write_bytes(optimizer)
    (path / "scheduler.pt").write_bytes(b"state")
    if state is True:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    elif state:
        (path / "trainer_state.json").write_text(state)
    return path


GOOD_STATUS = json.dumps({"state": "completed", "step": 30, "max_steps": 30, "started": 1.0, "ended": 61.0,
                          "best_eval_loss": 3.5})
GOOD_METRICS = "".join(json.dumps({"step": s, "loss": 5.0 - s / 10, "time": float(s)}) + "\n" for s in (1, 5, 10))


# ---- 8. a checkpoint counts only once complete ------------------------------------------------------------------

def test_only_complete_checkpoints_count_for_resume_the_picker_and_the_resolver(workspace):
    run_dir = _fake_run(workspace, "half-saved", GOOD_STATUS.replace("completed", "crashed"))
    _fake_checkpoint(run_dir, 10, workspace.starter_dir)
    _fake_checkpoint(run_dir, 20, workspace.starter_dir, state=None)  # killed before trainer_state.json
    _fake_checkpoint(run_dir, 30, workspace.starter_dir, optimizer=b"")  # killed while writing optimizer.pt
    _fake_checkpoint(run_dir, 40, workspace.starter_dir, state='{"global_st')  # killed inside trainer_state.json
    (_fake_checkpoint(run_dir, 50, workspace.starter_dir) / "model.safetensors").write_bytes(b"")

    assert [p.name for p in runs.complete_checkpoints(run_dir)] == ["checkpoint-10"]
    assert [(p.name, why) for p, why in runs.incomplete_checkpoints(run_dir)] == [
        ("checkpoint-20", "trainer_state.json is missing"), ("checkpoint-30", "optimizer.pt is empty"),
        ("checkpoint-40", "trainer_state.json is not valid JSON (truncated?)"),
        ("checkpoint-50", "no model weights")]
    assert models.resolve("half-saved").location.endswith("checkpoint-10")
    assert [n for n in models.local_models(workspace) if n.startswith("half-saved/")] == ["half-saved/checkpoint-10"]
    with pytest.raises(UserError, match="incomplete checkpoint .trainer_state.json is missing"):
        models.resolve("half-saved/checkpoint-20")
    config_before = (run_dir / "config.json").read_bytes()
    with pytest.raises(UserError, match="not a complete checkpoint .*optimizer.pt is empty.*checkpoint-10"):
        runs.resume(run_dir, "checkpoint-30")
    assert (run_dir / "config.json").read_bytes() == config_before  # refused before anything was written


def test_a_run_killed_during_a_checkpoint_save_resumes_from_the_previous_one(sample, monkeypatch):
    monkeypatch.setenv("QUILL_FAULT", "kill-during-save@20")
    run_dir = runs.start(sample, TrainConfig(**QUICK, max_steps=30), name="killed-in-save")
    status = runs.wait(run_dir, poll_s=0.3, timeout=WAIT_S)
    assert status["state"] == "crashed", runs.log_tail(run_dir)
    half = run_dir / "checkpoint-20"
    assert half.is_dir() and not (half / "trainer_state.json").exists() and (half / "optimizer.pt").stat().st_size == 0
    assert [p.name for p in runs.complete_checkpoints(run_dir)] == ["checkpoint-10"]
    assert models.resolve("killed-in-save").location.endswith("checkpoint-10")

    resumed = _core(sample, "resume", "killed-in-save")  # follows the run to its end
    out, err = resumed.communicate(timeout=WAIT_S)
    assert resumed.returncode == 0, err + runs.log_tail(run_dir)
    assert "resuming from checkpoint-10; checkpoint-20 is incomplete (trainer_state.json is missing)" in out
    assert "completed" in out
    status = runs.status(run_dir)
    assert (status["state"], status["step"]) == ("completed", 30)
    assert (status["resumed_from"], status["skipped_checkpoints"]) == ("checkpoint-10", ["checkpoint-20"])
    log = (run_dir / "train.log").read_text()
    assert "resuming from checkpoint-10" in log and "removing the incomplete checkpoint-20" in log
    steps = _loss_steps(run_dir)
    assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == 30, steps  # one curve, nothing doubled
    assert runs.checkpoint_problem(half) is None  # saved again, whole, when training passed step 20


# ---- 9. one run, one trainer ------------------------------------------------------------------------------------

def test_two_resumes_at_once_start_one_trainer(sample, monkeypatch):
    monkeypatch.setenv("QUILL_FAULT", "error@12")  # fails after checkpoint-10: a run to resume
    run_dir = runs.start(sample, TrainConfig(**QUICK, max_steps=40), name="twice")
    assert runs.wait(run_dir, poll_s=0.3, timeout=WAIT_S)["state"] == "failed"

    both = [_core(sample, "resume", "twice", "--detach") for _ in range(2)]  # started together
    results = [(*p.communicate(timeout=120), p.returncode) for p in both]
    assert sorted(code for _, _, code in results) == [0, 2], results
    [(started, _, _)] = [r for r in results if r[2] == 0]
    [(_, refused, _)] = [r for r in results if r[2] == 2]
    assert "resuming from checkpoint-10" in started
    assert refused.startswith("error: run twice is already running") and len(refused.strip().splitlines()) == 1

    most, deadline = 0, time.monotonic() + WAIT_S
    while not runs.ended(current := runs.status(run_dir)) and time.monotonic() < deadline:
        most = max(most, _trainers(run_dir))  # sampled for as long as the run lasts
        time.sleep(0.1)
    assert current["state"] == "completed", runs.log_tail(run_dir)
    assert most == 1
    steps = _loss_steps(run_dir)
    assert steps == sorted(set(steps)) and steps[-1] == 40, steps  # a second trainer would double the lines
    assert (run_dir / "train.log").read_text().count("\n=== ") == 2  # launched twice: the failed start, one resume


def _hold_lock(path: Path, holder: str) -> subprocess.Popen:
    """Another process holding an exclusive lock on path until its stdin closes (as a live trainer would)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    code = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, sys.argv[2].encode()); "
            "print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), holder], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_device_or_run_lock_refuses_a_second_trainer(sample, starter_dir):
    device = _hold_lock(sample.root / "locks" / "cpu.lock", "other-run")
    try:  # no live run in the list: only the device lock knows (two tabs clicking Start at once)
        with pytest.raises(UserError, match="already training on cpu: other-run"):
            runs.start(sample, TrainConfig(**QUICK, max_steps=5), name="second")
        assert not (sample.runs_dir / "second").exists()
    finally:
        device.communicate("")

    run_dir = _fake_run(sample, "held", GOOD_STATUS.replace("completed", "stopped"))
    _fake_checkpoint(run_dir, 10, starter_dir)
    config_before = (run_dir / "config.json").read_bytes()
    holder = _hold_lock(run_dir / ".lock", "")
    try:
        with pytest.raises(UserError, match="run held is already running"):
            runs.resume(run_dir)
        with pytest.raises(UserError, match="still training"):
            runs.delete(run_dir)
        assert (run_dir / "config.json").read_bytes() == config_before and run_dir.is_dir()
    finally:
        holder.communicate("")


# ---- 10. reading never writes -----------------------------------------------------------------------------------

def test_reading_a_dead_run_derives_crashed_and_writes_nothing(workspace):
    # pid: a live process that is not this run's trainer (this test), so the run's own trainer is gone
    status_text = json.dumps({"state": "running", "pid": os.getpid(), "step": 7, "max_steps": 30, "started": 1.0,
                              "updated": 50.0})
    run_dir = _fake_run(workspace, "dead", status_text, GOOD_METRICS)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.iterdir()}

    current = runs.status(run_dir)
    assert (current["state"], current["alive"], current["ended"]) == ("crashed", False, 50.0)
    assert runs.list_runs(workspace)[0]["state"] == "crashed"
    listed = _core(workspace, "runs")
    out, err = listed.communicate(timeout=120)
    assert listed.returncode == 0 and "dead" in out and "crashed" in out, err
    assert runs.wait(run_dir, poll_s=0.1, timeout=10)["state"] == "crashed"

    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.iterdir()} == before
    assert not (workspace.root / "locks").exists()


# ---- 11. corrupt run files do not take anything down --------------------------------------------------------------

CORRUPT_STATUS = {
    "truncated": ('{"state": "running", "pi', "status.json: status.json is not valid JSON (truncated?)"),
    "empty": ("", "status.json: status.json is not valid JSON (empty)"),
    "a list": ("[1, 2]", "status.json: list instead of an object"),
    "a string": ('"running"', "status.json: str instead of an object"),
    "pid as text": ('{"state": "running", "pid": "123"}', "status.json: 'pid' is str, not an integer"),
    "pid as bool": ('{"state": "running", "pid": true}', "status.json: 'pid' is bool, not an integer"),
    "pid zero": ('{"state": "running", "pid": 0}', "status.json: 'pid' is 0"),
    "started as text": ('{"state": "completed", "started": "yesterday"}', "status.json: 'started' is str, not a number"),
    "unknown state": ('{"state": "![x](http://example.invalid/x.png)"}', "status.json: unknown 'state'"),
    "no state": ('{"step": 3}', "status.json: no 'state'"),
    "devices of numbers": ('{"state": "stopped", "devices": [0]}', "status.json: 'devices' holds something other than text"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "status.json: status.json is not valid JSON (truncated?)"),
    "not UTF-8": (b"\xff\xfe{}", "status.json: status.json is not UTF-8 text"),
}


@pytest.mark.parametrize("variant", list(CORRUPT_STATUS))
def test_a_corrupt_status_reads_as_unreadable_beside_a_good_run(workspace, variant):
    text, reason = CORRUPT_STATUS[variant]
    good = _fake_run(workspace, "good", GOOD_STATUS, GOOD_METRICS)
    bad = _fake_run(workspace, "bad")
    (bad / "status.json").write_bytes(text if isinstance(text, bytes) else text.encode())

    assert runs.status(bad) == {"state": "unreadable", "error": reason, "alive": False}
    listed = {r["id"]: r for r in runs.list_runs(workspace)}
    assert (listed["bad"]["state"], listed["bad"]["error"]) == ("unreadable", reason)
    assert (listed["good"]["state"], listed["good"]["duration_s"]) == ("completed", 60.0)
    assert runs.ended(runs.status(bad)) and runs.wait(bad, timeout=5)["state"] == "unreadable"
    assert runs.read_status(bad) == {}  # a writer starts over from nothing
    runs.stop(bad)  # nothing to stop, and no error
    assert good.is_dir()


def test_runs_command_lists_an_unreadable_run_with_its_reason(workspace):
    _fake_run(workspace, "good", GOOD_STATUS, GOOD_METRICS)
    _fake_run(workspace, "bad", '{"state": "running", "pid": "12')
    (workspace.runs_dir / "bad" / "config.json").write_text("[]")  # its config too: the model column stays empty
    listed = _core(workspace, "runs")
    out, err = listed.communicate(timeout=120)
    assert listed.returncode == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "unreadable (status.json: status.json is not valid JSON (truncated?))" in lines["bad"]
    assert "completed" in lines["good"] and "starter" in lines["good"]


CORRUPT_LINES = {
    "a list": ("[1, 2]", "list instead of an object"),
    "a string": ('"loss"', "str instead of an object"),
    "step as text": ('{"step": "5", "loss": 1.0}', "'step' is str, not an integer"),
    "loss as text": ('{"step": 5, "loss": "low"}', "'loss' is str, not a number"),
    "no step": ('{"loss": 1.0}', "no 'step'"),
    "not JSON": ("{step: 5}", "not valid JSON"),
}


@pytest.mark.parametrize("variant", list(CORRUPT_LINES))
def test_a_corrupt_metrics_line_is_left_out_with_its_reason(workspace, variant):
    line, reason = CORRUPT_LINES[variant]
    run_dir = _fake_run(workspace, "lines", GOOD_STATUS, GOOD_METRICS + line + "\n" + '{"step": 20, "loss": 2.0}\n'
                        + '{"step": 25, "lo')  # the torn last line of a trainer writing (or killed): not a problem
    metrics = runs.load_metrics(run_dir)
    assert [m["step"] for m in metrics.records] == [1, 5, 10, 20]
    assert metrics.problem == f"metrics.jsonl line 4: {reason}"
    assert runs.read_metrics(run_dir) == metrics.records
    assert runs.status(run_dir)["state"] == "completed"


def test_a_corrupt_samples_line_is_left_out_with_its_reason(workspace):
    run_dir = _fake_run(workspace, "gallery", GOOD_STATUS)
    (run_dir / "samples.jsonl").write_text('{"step": 0, "prompt": "A", "text": "b", "seed": 0}\n'
                                           '{"step": 10, "prompt": ["A"], "text": "b"}\n', encoding="utf-8")
    samples = runs.load_samples(run_dir)  # lines of the shape before the gallery was written as sample records
    assert [gallery.step(s) for s in samples.records] == [0]
    assert samples.problem == "samples.jsonl line 2: 'prompt' is list, not text"


def _train_page(run: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["lang"] = "en"
    at.run()
    at.switch_page("../pages/train.py")
    if run:
        at.query_params["run"] = run
    return at.run()


def test_train_page_shows_a_corrupt_run_beside_a_good_one(workspace):
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    _fake_run(workspace, "good", GOOD_STATUS, GOOD_METRICS)
    _fake_run(workspace, "bad", '{"state": "running", "pid": "12', '[1, 2]\n{"step": 1, "loss": "x"}\n')
    (workspace.runs_dir / "bad" / "samples.jsonl").write_text('"not a sample"\n')

    at = _train_page()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    states = dict(zip(table["Run"], table["State"]))
    assert states == {"good": "completed", "bad": "unreadable (status.json: status.json is not valid JSON (truncated?))"}

    at = _train_page("bad")
    assert not at.exception, [e.value for e in at.exception]
    assert any("status cannot be read" in e.value and "not valid JSON" in e.value for e in at.error)
    warnings = [w.value for w in at.warning]
    # the reasons reach the page through the markdown escaping helper (issue 9, item 3)
    assert any(md_escape("metrics.jsonl line 1: list instead of an object") in w for w in warnings), warnings
    assert any(md_escape("samples.jsonl line 1: str instead of an object") in w for w in warnings), warnings
    assert at.metric[0].value == "unreadable"

    at = _train_page("good")
    assert not at.exception and at.metric[0].value == "completed" and not at.warning
