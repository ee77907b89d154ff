"""A run's states, defined once: the trainer writes the live ones and completed/stopped/failed/oom; `crashed` is
derived by readers (a live state whose process is gone, `core.train.runs.status`) and recorded by the launcher;
`unreadable` is derived when status.json cannot be read, with the reason in `error`.

A `StrEnum`, so a state compares equal to its word in status.json, formats as that word, and is written as it.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    OOM = "oom"
    CRASHED = "crashed"
    PRUNED = "pruned"  # a sweep's trial stopped early, worse than the median of earlier trials (it saved a checkpoint)
    UNREADABLE = "unreadable"


LIVE = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.STOPPING})
FINAL = frozenset({RunState.COMPLETED, RunState.STOPPED, RunState.FAILED, RunState.OOM, RunState.CRASHED,
                   RunState.PRUNED})
# What a trainer may write in status.json (`unreadable` is a reader's verdict, never written)
WRITTEN = LIVE | FINAL
# Ended with a checkpoint to go on from: what Resume is offered for
RESUMABLE = frozenset({RunState.STOPPED, RunState.CRASHED, RunState.FAILED})


class Phase(StrEnum):
    """What a trainer is doing before its first metrics line (status.json's `phase`), for the Train page."""

    LOADING_MODEL = "loading_model"
    TOKENIZING = "tokenizing"
    FIRST_STEP = "first_step"
