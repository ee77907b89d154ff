"""The queue survives damaged files (issue 20, item 4): a bad entry fails with its reason and the line goes on;
a damaged queue.json is rebuilt from the runs that wait; an entry is a run id of this workspace, nothing else.
A held CPU lock stands for a busy device, so nothing here launches a trainer."""

from __future__ import annotations

import json
import os

import pytest

from core.data import dataset
from core.data.corpus import sample_texts
from core.train import queue, runs
from core.train.config import TrainConfig
from core.train.state import RunState


@pytest.fixture
def waiting(workspace):
    """Runs a and b queued behind a busy CPU."""
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    (workspace.root / "locks").mkdir(parents=True, exist_ok=True)
    held = runs.try_lock(workspace.root / "locks" / "cpu.lock")
    config = TrainConfig(dataset="sample", model="starter", block_size=32, max_steps=2, device="cpu")
    for name in ("a", "b"):
        queue.enqueue(workspace, config, name=name, start_scheduler=False)
    yield workspace
    os.close(held)


def test_a_queued_run_with_a_truncated_config_fails_and_the_queue_goes_on(waiting):
    config = waiting.runs_dir / "a" / "config.json"
    config.write_text(config.read_text(encoding="utf-8")[:40], encoding="utf-8")
    assert queue.schedule_once(waiting) == []  # no crash; b still waits for the busy device
    failed = runs.status(waiting.runs_dir / "a")
    assert failed["state"] == RunState.FAILED and "not started" in failed["error"] and "config" in failed["error"]
    assert queue.read_order(waiting) == ["b"]


def test_a_truncated_queue_file_is_rebuilt_from_the_waiting_runs(waiting):
    queue.queue_file(waiting).write_text('{"runs": ["a", "b', encoding="utf-8")
    assert queue.read_order(waiting) == ["a", "b"]
    assert [e["id"] for e in queue.entries(waiting)] == ["a", "b"]
    queue.cancel(waiting, "b")
    assert runs.status(waiting.runs_dir / "b")["state"] == RunState.STOPPED
    assert queue.read_order(waiting) == ["a"]


def test_an_entry_is_a_run_id_never_a_path(waiting, tmp_path):
    outside = tmp_path / "outrun"
    outside.mkdir()
    (outside / "config.json").write_text((waiting.runs_dir / "a" / "config.json").read_text(encoding="utf-8"))
    runs.update_status(outside, state=RunState.QUEUED)
    escape = os.path.relpath(outside, waiting.runs_dir)
    queue.queue_file(waiting).write_text(json.dumps({"runs": [escape, "/etc", "a", ".hidden", 7, "b"]}))
    assert queue.read_order(waiting) == ["a", "b"]
    assert queue.schedule_once(waiting) == []
    assert runs.status(outside)["state"] == RunState.QUEUED and not runs.status(outside).get("launched")
