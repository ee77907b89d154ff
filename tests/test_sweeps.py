"""Issue 14: the run queue, sweeps over it (Optuna ask/tell in the lab database) and pruning, on the CPU with the
real starter, real trainer and scheduler processes and a real SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from core.data import dataset
from core.train import queue, runs, sweep
from core.train.config import TrainConfig
from core.train.state import RunState
from core.workspace import Workspace
from tests.conftest import SHARED, require, run_core

pytestmark = pytest.mark.slow  # end to end: real processes and models

CORPUS = SHARED / "data" / "tinyshakespeare.txt"
WAIT_S = 400  # four trainers one after another on a busy two-core machine: generous, but a hang still fails
SMALL = ["--data", "shakespeare", "--model", "starter", "--block-size", "64", "--max-steps", "20",
         "--eval-steps", "10", "--device", "cpu"]


@pytest.fixture
def ws(tmp_path, starter_dir, monkeypatch):
    require(CORPUS.exists(), f"the Tiny Shakespeare corpus is missing: {CORPUS}")
    root = tmp_path / "workspace"
    shutil.copytree(starter_dir, root / "models" / "starter")
    lines = CORPUS.read_text(encoding="utf-8")[:60_000].splitlines()
    dataset.save(root / "datasets" / "shakespeare", ["\n".join(lines[i:i + 40]) for i in range(0, len(lines), 40)],
                 recipe={}, report={})
    monkeypatch.setenv("QUILL_HOME", str(root))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    workspace = Workspace(root)
    yield workspace
    _kill_scheduler(workspace)
    for run in runs.list_runs(workspace):  # a failed test must not leave a trainer behind
        if run["alive"]:
            os.killpg(os.getpgid(int(runs.read_status(Path(run["path"]))["pid"])), signal.SIGKILL)


def _scheduler_pid(workspace: Workspace) -> int | None:
    path = workspace.root / "locks" / "scheduler.lock"
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text and queue.scheduler_running(workspace) else None


def _kill_scheduler(workspace: Workspace) -> None:
    pid = _scheduler_pid(workspace)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait_for(condition, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _finished(workspace: Workspace, sweep_id: str) -> dict | None:
    data = sweep.compare(workspace, sweep_id)
    if data["finished"] and all(not runs.status(Path(workspace.runs_dir / t["run"]))["alive"] for t in data["trials"]):
        return data
    return None


def test_a_grid_sweep_runs_one_trainer_at_a_time_survives_a_killed_scheduler_and_reports_the_best(ws):
    out = run_core(ws, "sweep", *SMALL, "--learning-rate", "1e-3,3e-3", "--batch-size", "2,4", "--name", "grid",
                   "--detach", "--prune")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "grid"

    # SIGKILL the scheduler while the second trial trains, then start one again, as a restarted lab would
    _wait_for(lambda: runs.status(ws.runs_dir / "grid-t001").get("state") == RunState.RUNNING, "trial 1 to start")
    pid = _wait_for(lambda: _scheduler_pid(ws), "the scheduler")
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not queue.scheduler_running(ws), "the killed scheduler to let go of its lock")
    again = run_core(ws, "queue", "run", timeout=WAIT_S)
    assert again.returncode == 0, again.stderr

    data = _wait_for(lambda: _finished(ws, "grid"), "the sweep to finish")
    trials = data["trials"]
    assert sorted(t["trial"] for t in trials) == [0, 1, 2, 3]  # none lost, none twice
    assert sorted((t["params"]["learning_rate"], t["params"]["batch_size"]) for t in trials) == [
        (1e-3, 2), (1e-3, 4), (3e-3, 2), (3e-3, 4)]
    assert {t["state"] for t in trials} <= {RunState.COMPLETED, RunState.PRUNED}
    assert len(list(ws.runs_dir.iterdir())) == 4
    spans = sorted((t["started"], t["ended"]) for t in trials)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, "two trainers shared the CPU"
    # the best trial is the one with the lowest validation loss in the runs' own metrics
    lowest = {t["run"]: min(m["eval_loss"] for m in runs.read_metrics(ws.runs_dir / t["run"]) if "eval_loss" in m)
              for t in trials if t["state"] == RunState.COMPLETED}
    assert data["best"]["run"] == min(lowest, key=lowest.get)
    assert data["best"]["best_eval_loss"] == pytest.approx(lowest[data["best"]["run"]])
    shown = run_core(ws, "sweep", "show", "grid", "--json")
    assert json.loads(shown.stdout)["best"]["run"] == data["best"]["run"]
    # Optuna's study lives in the lab's own SQLite file, next to (not instead of) the lab's tables
    tables = {r[0] for r in sqlite3.connect(ws.db_path).execute("select name from sqlite_master where type='table'")}
    assert {"studies", "trials"} <= tables
    assert not queue.read_order(ws)


def test_b_a_bad_trial_is_pruned_with_a_checkpoint_and_the_time_saved_is_shown(ws):
    base = TrainConfig(dataset="shakespeare", model="starter", block_size=64, max_steps=20, eval_steps=10,
                       batch_size=4, device="cpu", gallery_prompts=["To be"], gallery_max_new_tokens=4)
    axis = sweep.Axis(values=[3e-3, 1e-7])  # the grid runs in order: a good trial, then one that cannot learn
    spec = sweep.create(ws, base, {"learning_rate": axis}, prune=True, prune_startup_trials=1, prune_warmup_steps=5,
                        name="prune")
    data = _wait_for(lambda: _finished(ws, spec.id), "the sweep to finish")
    good, bad = data["trials"]
    assert good["state"] == RunState.COMPLETED and bad["state"] == RunState.PRUNED
    assert bad["step"] < 20 and runs.complete_checkpoints(ws.runs_dir / bad["run"])
    assert bad["saved_s"] > 0 and data["saved_s"] == bad["saved_s"]
    assert data["best"]["run"] == good["run"]
    shown = run_core(ws, "sweep", "show", spec.id)
    assert "pruning saved" in shown.stdout and "pruned" in shown.stdout


def test_c_the_queue_orders_moves_and_cancels_without_running_anything(ws):
    # a held CPU lock stands for a busy device: nothing may start while we reorder
    (ws.root / "locks").mkdir(parents=True, exist_ok=True)
    held = runs.try_lock(ws.root / "locks" / "cpu.lock")
    try:
        config = TrainConfig(dataset="shakespeare", model="starter", block_size=64, max_steps=5, device="cpu")
        names = [queue.enqueue(ws, config, name=n, start_scheduler=False).name for n in ("a", "b", "c")]
        assert queue.read_order(ws) == names
        moved = run_core(ws, "queue", "move", "c", "--to", "1")
        assert moved.returncode == 0, moved.stderr
        assert queue.read_order(ws) == ["c", "a", "b"]
        assert run_core(ws, "queue", "cancel", "a").returncode == 0
        listed = json.loads(run_core(ws, "queue", "--json").stdout)
        assert [e["id"] for e in listed] == ["c", "b"] and listed[0]["devices"] == ["cpu"]
        assert runs.status(ws.runs_dir / "a")["state"] == RunState.STOPPED
        assert queue.schedule_once(ws) == []  # the device is busy: nobody launches
        bad = run_core(ws, "queue", "move", "zz", "--to", "1")
        assert bad.returncode != 0 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    finally:
        os.close(held)
    assert queue.schedule_once(ws) == ["c"]  # free: the first in line starts, the next waits for it
    assert queue.read_order(ws) == ["b"]
    queue.cancel(ws, "b")  # so the finishing trainer hands nothing over
    runs.wait(ws.runs_dir / "c", poll_s=0.5, timeout=WAIT_S)
