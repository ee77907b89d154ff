"""Issue 14: the run queue, sweeps over it (Optuna ask/tell in the lab database) and pruning, on the CPU with the
real starter, real trainer and scheduler processes and a real SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.data import dataset
from core.ratings.rubric import CRITERIA
from core.train import queue, runs, sweep
from core.train.config import TrainConfig
from core.train.state import RunState
from core.workspace import Workspace
from tests.conftest import ROOT, SHARED, core_env, require, run_core

pytestmark = pytest.mark.slow  # end to end: real processes and models

CORPUS = SHARED / "data" / "tinyshakespeare.txt"
WAIT_S = 400  # four trainers one after another on a busy two-core machine: generous, but a hang still fails
# One short gallery prompt: the trials' gallery is what the human-score test rates, and generating it is not timed
BASE = {"gallery_prompts": ["To be"], "gallery_max_new_tokens": 4}
GRID = ["--data", "shakespeare", "--model", "starter", "--block-size", "64", "--max-steps", "20", "--eval-steps", "10",
        "--device", "cpu", "--learning-rate", "3e-3,1e-7", "--batch-size", "2,4", "--prune", "--name", "grid"]


def _workspace(root: Path, starter_dir: Path, monkeypatch) -> Workspace:
    require(CORPUS.exists(), f"the Tiny Shakespeare corpus is missing: {CORPUS}")
    shutil.copytree(starter_dir, root / "models" / "starter")
    lines = CORPUS.read_text(encoding="utf-8")[:24_000].splitlines()
    dataset.save(root / "datasets" / "shakespeare", ["\n".join(lines[i:i + 40]) for i in range(0, len(lines), 40)],
                 recipe={}, report={})
    monkeypatch.setenv("QUILL_HOME", str(root))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return Workspace(root)


def _clean_up(workspace: Workspace) -> None:
    """A failed test must leave no scheduler or trainer behind; a launched trainer a test no longer needs ends here."""
    _kill_scheduler(workspace)
    for run in runs.list_runs(workspace):
        if run["alive"]:
            os.killpg(os.getpgid(int(runs.read_status(Path(run["path"]))["pid"])), signal.SIGKILL)


@pytest.fixture
def ws(tmp_path, starter_dir, monkeypatch):
    workspace = _workspace(tmp_path / "workspace", starter_dir, monkeypatch)
    yield workspace
    _clean_up(workspace)


@pytest.fixture(scope="module")
def grid(tmp_path_factory, starter_dir):
    """One 4-trial grid sweep (≈ 20 steps each) shared by the tests below, started from the command line as a user
    types it, followed live. Learning rate 3e-3 learns and 1e-7 cannot: the grid runs in order, so the two 1e-7
    trials come after two completed ones and are pruned at their first evaluation. The scheduler is SIGKILLed while
    trial 1 trains and started again, as a restarted lab would. Yields the workspace, the comparison and what the
    live command printed."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        workspace = _workspace(tmp_path_factory.mktemp("grid") / "workspace", starter_dir, monkeypatch)
        base = workspace.root / "base.json"
        base.write_text(json.dumps(BASE), encoding="utf-8")
        follow = subprocess.Popen([sys.executable, "-m", "core", "sweep", *GRID, "--config", str(base)], cwd=ROOT,
                                  env=core_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: runs.status(workspace.runs_dir / "grid-t001").get("state") == RunState.RUNNING,
                      "trial 1 to start")
            os.kill(_wait_for(lambda: _scheduler_pid(workspace), "the scheduler"), signal.SIGKILL)
            _wait_for(lambda: not queue.scheduler_running(workspace), "the killed scheduler to let go of its lock")
            again = run_core(workspace, "queue", "run", timeout=WAIT_S)
            assert again.returncode == 0, again.stderr
            printed, errors = follow.communicate(timeout=WAIT_S)
            assert follow.returncode == 0, errors
            yield workspace, _wait_for(lambda: _finished(workspace, "grid"), "the sweep to finish"), printed
        finally:
            follow.kill()
            _clean_up(workspace)


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


def test_a_grid_sweep_runs_one_trainer_at_a_time_survives_a_killed_scheduler_and_reports_the_best(grid):
    ws, data, printed = grid
    trials = data["trials"]
    assert sorted(t["trial"] for t in trials) == [0, 1, 2, 3]  # none lost, none twice
    assert [(t["params"]["learning_rate"], t["params"]["batch_size"]) for t in trials] == [
        (3e-3, 2), (3e-3, 4), (1e-7, 2), (1e-7, 4)]
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
    # the live command: the sweep id, a line per trial and state, and last the best trial
    lines = printed.splitlines()
    assert lines[0] == "grid" and all(f"grid-t00{n}" in printed for n in range(4))
    assert lines[-1].startswith(f"best trial: {data['best']['trial']} ({data['best']['run']})")
    shown = run_core(ws, "sweep", "show", "grid", "--json")
    assert json.loads(shown.stdout)["best"]["run"] == data["best"]["run"]
    # Optuna's study lives in the lab's own SQLite file, next to (not instead of) the lab's tables
    tables = {r[0] for r in sqlite3.connect(ws.db_path).execute("select name from sqlite_master where type='table'")}
    assert {"studies", "trials"} <= tables
    assert not queue.read_order(ws)


def test_b_a_bad_trial_is_pruned_with_a_checkpoint_and_the_time_saved_is_shown(grid):
    ws, data, _ = grid
    good, bad = data["trials"][:2], data["trials"][2:]  # learning rate 3e-3, then 1e-7
    assert [t["state"] for t in good] == [RunState.COMPLETED] * 2
    assert [t["state"] for t in bad] == [RunState.PRUNED] * 2
    for trial in bad:
        assert trial["step"] < 20 and runs.complete_checkpoints(ws.runs_dir / trial["run"])
        assert trial["saved_s"] > 0
    assert data["saved_s"] == pytest.approx(sum(t["saved_s"] for t in bad))
    assert data["best"]["run"] in {t["run"] for t in good}
    shown = run_core(ws, "sweep", "show", "grid")
    assert "pruning saved" in shown.stdout and "pruned" in shown.stdout


def test_d_once_rated_the_best_trial_by_mean_human_score_is_reported_too(grid):
    """The two completed trials' galleries go to the ratings (the real SQLite store); the trial with the lower
    validation loss is rated worse, so the best by human score is the other one. Its gallery's step 0 (the base
    model, the same in every trial) is rated best of all, and must not count."""
    from core.ratings.store import open_store
    from core.train.gallery_import import import_gallery

    ws, data, _ = grid
    by_loss = data["best"]["run"]
    (other,) = [t["run"] for t in data["trials"] if t["state"] == RunState.COMPLETED and t["run"] != by_loss]
    scores = {(by_loss, False): 2, (by_loss, True): 5, (other, False): 4, (other, True): 1}
    with open_store(ws.db_url) as store:
        for run in (by_loss, other):
            import_gallery(store, ws.runs_dir / run)
            for sample in store.samples(run=run):
                score = scores[run, sample["config_name"] == "gallery step 0"]
                store.rate(sample["id"], "ann", {c: score for c in CRITERIA})
    rated = sweep.compare(ws, "grid")
    assert rated["best"]["run"] == by_loss  # validation loss still says so
    assert rated["best_rated"]["run"] == other
    assert rated["best_rated"]["score"] == pytest.approx(4)
    assert {t["run"]: t["score"] for t in rated["trials"]}[by_loss] == pytest.approx(2)
    with open_store(ws.db_url) as store:  # its gallery from the first evaluation on
        trained = [s for s in store.samples(run=other) if s["config_name"] != "gallery step 0"]
    assert trained and rated["best_rated"]["ratings"] == len(trained)
    shown = run_core(ws, "sweep", "show", "grid")
    assert shown.stdout.splitlines()[-1].startswith(f"best trial by mean human score: {rated['best_rated']['trial']}"
                                                    f" ({other}), 4.00")
    assert json.loads(run_core(ws, "sweep", "show", "grid", "--json").stdout)["best_rated"]["run"] == other


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
    assert runs.status(ws.runs_dir / "c")["alive"]
    queue.cancel(ws, "b")  # nothing is left to hand over; the fixture ends the launched trainer, not needed further
