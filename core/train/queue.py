"""The run queue: runs that wait for their device and start by themselves, in order, when it is free.

    python -m core.train.scheduler WORKSPACE  (the scheduler; `python -m core queue run` is the same)

A queued run is an ordinary run folder in state `queued` with no process yet; its place in line is in
`workspace/queue.json` (a list of run ids, replaced atomically, changed under `locks/queue.lock`). The scheduler is
a small process of its own, started by whoever queues a run (the page, the CLI) and by a trainer that finishes
while runs wait, so the queue needs no browser and outlives a restarted Streamlit server. Exactly one scheduler at
a time: it holds `locks/scheduler.lock` (non-blocking; a second one exits at once). It launches through
`runs.launch_queued`, which takes the same run and device locks as a plain start, so a queued run never shares a
device with another trainer. It exits when nothing is queued and no sweep still has trials to ask or results to tell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from core.errors import UserError
from core.files import read_json, write_text_atomic
from core.train import runs
from core.train.config import TrainConfig
from core.train.run_dir import RunDir
from core.train.state import RunState
from core.workspace import Workspace, is_plain_name

POLL_S = 1.0  # how often the scheduler looks at free devices


def queue_file(workspace: Workspace) -> Path:
    return workspace.root / "queue.json"


def lock_dir(workspace: Workspace) -> Path:
    path = workspace.root / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(workspace: Workspace):
    """The queue file's lock: every read-modify-write of queue.json holds it (short, so a little patience)."""
    fd = runs.try_lock(lock_dir(workspace) / "queue.lock", patience_s=30)
    if fd is None:
        raise UserError.coded("queue_locked")
    try:
        yield
    finally:
        os.close(fd)


def read_order(workspace: Workspace) -> list[str]:
    """The run ids in line. Only plain names count (an entry `../x` never names a folder outside `runs/`); a
    damaged file is rebuilt from the runs themselves: those still queued and never launched, oldest first."""
    if not queue_file(workspace).exists():
        return []
    data, problem = read_json(queue_file(workspace))
    if problem or not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        return _waiting_runs(workspace)
    return [r for r in data["runs"] if is_plain_name(r)]


def _waiting_runs(workspace: Workspace) -> list[str]:
    waiting = [(current.get("created") or 0, run_dir.name) for run_dir in workspace.runs()
               if (current := runs.status(run_dir)).get("state") == RunState.QUEUED and not current.get("launched")]
    return [name for _, name in sorted(waiting)]


def _write_order(workspace: Workspace, order: list[str]) -> None:
    write_text_atomic(queue_file(workspace), json.dumps({"runs": order}, indent=2))


# ---- changing the queue ---------------------------------------------------------------------------------------

def enqueue(workspace: Workspace, config: TrainConfig, name: str | None = None, *, start_scheduler: bool = True) -> Path:
    """Validate like a start, create the run (state `queued`) and put it at the end of the line."""
    runs.preflight(workspace, config)
    run_dir = runs.create(workspace, config, name).resolve()
    with _locked(workspace):
        _write_order(workspace, [*read_order(workspace), run_dir.name])
    if start_scheduler:
        ensure_scheduler(workspace)
    return run_dir


def cancel(workspace: Workspace, run_id: str) -> None:
    """Take a run out of the line; it ends `stopped` without having trained (its folder stays, for the record)."""
    with _locked(workspace):
        order = read_order(workspace)
        if run_id not in order:
            raise UserError.coded("run_not_queued", run=run_id)
        _write_order(workspace, [r for r in order if r != run_id])
        run_dir = workspace.run_dir(run_id)
        if not runs.status(run_dir)["alive"] and runs.status(run_dir).get("state") == RunState.QUEUED:
            runs.update_status(run_dir, state=RunState.STOPPED, ended=time.time(), error="cancelled in the queue")


def move(workspace: Workspace, run_id: str, to: int) -> list[str]:
    """Put a queued run at position `to` (1 = next); returns the new order."""
    with _locked(workspace):
        order = read_order(workspace)
        if run_id not in order:
            raise UserError.coded("run_not_queued", run=run_id)
        if not 1 <= to <= len(order):
            raise UserError.coded("queue_position", position=to, last=len(order))
        order.remove(run_id)
        order.insert(to - 1, run_id)
        _write_order(workspace, order)
    return order


def entries(workspace: Workspace) -> list[dict]:
    """The queue in order: position, run id, the devices it waits for, its sweep and trial."""
    out = []
    for position, run_id in enumerate(read_order(workspace), start=1):
        try:
            config = RunDir(workspace.runs_dir / run_id).config()
        except UserError:
            config = None
        out.append({"position": position, "id": run_id, "devices": runs.devices_of(config) if config else [],
                    "model": config.model if config else None, "sweep": config.sweep if config else "",
                    "trial": config.trial if config else -1})
    return out


# ---- the scheduler --------------------------------------------------------------------------------------------

def schedule_once(workspace: Workspace) -> list[str]:
    """One pass: drop entries that no longer wait, then for each device that is free launch the first run waiting
    for it. Returns the runs launched. A run is taken off the line only after its launch, so a scheduler killed in
    between leaves it queued for the next one, whose launch then finds it running (or its run lock held) and drops it."""
    launched, waiting_on = [], set()
    for run_id in read_order(workspace):
        run_dir = workspace.runs_dir / run_id
        current = runs.status(run_dir) if run_dir.is_dir() else {"state": None, "alive": False}
        if current.get("state") != RunState.QUEUED or current.get("launched"):
            _drop(workspace, run_id)  # started (by us before a kill, or by hand), cancelled or deleted
            continue
        try:
            config = RunDir(run_dir).config()
        except UserError as error:  # a damaged run fails with its reason; the runs behind it still start
            runs.update_status(run_dir, state=RunState.FAILED, ended=time.time(), error=f"not started: {error}")
            _drop(workspace, run_id)
            continue
        devices = set(runs.devices_of(config))
        if devices & waiting_on:
            continue  # an earlier run waits for this device: keep the order
        if runs.launch_queued(run_dir):
            launched.append(run_id)
            _drop(workspace, run_id)
        waiting_on |= devices
    return launched


def _drop(workspace: Workspace, run_id: str) -> None:
    with _locked(workspace):
        _write_order(workspace, [r for r in read_order(workspace) if r != run_id])


def scheduler_running(workspace: Workspace) -> bool:
    fd = runs.try_lock(lock_dir(workspace) / "scheduler.lock", patience_s=0)
    if fd is None:
        return True
    os.close(fd)
    return False


def ensure_scheduler(workspace: Workspace) -> None:
    """Start the scheduler in its own session (it outlives the page or command that starts it); when one already
    runs, the new one sees the lock and exits at once, so calling this twice is harmless."""
    if scheduler_running(workspace):
        return
    log = (lock_dir(workspace) / "scheduler.log").open("ab")
    env = {**os.environ, "QUILL_HOME": str(workspace.root)}
    proc = subprocess.Popen([sys.executable, "-m", "core.train.scheduler", str(workspace.root)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    threading.Thread(target=proc.wait, name=f"reap-scheduler-{proc.pid}", daemon=True).start()  # no zombie
