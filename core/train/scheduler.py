"""The queue's one scheduler: it owns workspace/locks/scheduler.lock, lets sweeps tell how their trials ended and
queue the next ones, and starts queued runs as their devices free up; it exits when nothing is left to do.
Above both the queue and the sweeps (each knows only the queue), so no import goes in a circle."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from core.train import queue, runs, sweep
from core.workspace import Workspace


def run_scheduler(workspace: Workspace, poll_s: float = queue.POLL_S) -> bool:
    """Own the queue until nothing is left to do; False at once when another scheduler owns it."""
    fd = runs.try_lock(queue.lock_dir(workspace) / "scheduler.lock", patience_s=0)
    if fd is None:
        return False
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        while True:
            busy = sweep.advance_all(workspace)  # tell ended trials, ask and queue the next ones
            queue.schedule_once(workspace)
            if not queue.read_order(workspace) and not busy:
                return True
            time.sleep(poll_s)
    finally:
        os.close(fd)


def hand_over(workspace: Workspace) -> None:
    """Called by a trainer as it ends: if work waits and no scheduler owns it (killed, or never started), start one."""
    if queue.read_order(workspace) or sweep.unfinished(workspace):
        queue.ensure_scheduler(workspace)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    workspace = Workspace(Path(argv[0]).resolve()) if argv else Workspace.from_env()
    owned = run_scheduler(workspace)
    print(f"[{time.strftime('%H:%M:%S')}] scheduler {os.getpid()}: "
          + ("queue empty, exiting" if owned else "another scheduler owns the queue, exiting"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
