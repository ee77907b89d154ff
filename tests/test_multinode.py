"""Two "machines" on one: two `python -m core train --nodes 2` launches (ranks 0 and 1), each one CPU process in its
own workspace (machines share no disk, and the device lock allows one trainer per device per workspace), meeting
over gloo on loopback through accelerate's multi-node launcher. They follow the loss curve of one process with the
same effective batch."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import pytest

from core.data import dataset
from core.workspace import Workspace
from tests.conftest import ROOT, core_env, run_core

pytestmark = pytest.mark.slow  # end to end: three real trainer processes

DOCUMENTS = [f"The keeper climbed {i} steps and wrote line {i * 3} of the log by lamplight.\n" * (3 + i % 4)
             for i in range(80)]
COMMON = ["--data", "small", "--model", "starter", "--block-size", "32", "--max-steps", "6", "--learning-rate",
          "1e-3", "--seed", "3", "--device", "cpu", "--eval-steps", "100"]
STEPS_LOGGED = 2  # steps 1 and 5 (logging every 5 steps, the first step too)


def _workspace(root, starter_dir) -> Workspace:
    shutil.copytree(starter_dir, root / "models" / "starter")
    dataset.save(root / "datasets" / "small", DOCUMENTS, recipe={}, report={})  # the same split on every machine
    return Workspace(root)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(workspace: Workspace, run: str) -> list[float]:
    lines = [json.loads(line) for line in (workspace.runs_dir / run / "metrics.jsonl").read_text().splitlines()]
    return [line["loss"] for line in lines if "loss" in line]


def _node(workspace: Workspace, rank: int, port: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "core", "train", *COMMON, "--batch-size", "4", "--nodes", "2", "--node-rank",
            str(rank), "--main-process-ip", "127.0.0.1", "--main-process-port", str(port), "--name", "two-nodes"]
    env = core_env(QUILL_HOME=str(workspace.root), OMP_NUM_THREADS="1")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_machines_on_loopback_follow_one_process_with_the_same_effective_batch(tmp_path, starter_dir):
    single = _workspace(tmp_path / "single", starter_dir)
    result = run_core(single, "train", *COMMON, "--batch-size", "8", "--name", "one")
    assert result.returncode == 0, result.stderr[-2000:]

    port = _free_port()
    machines = [_workspace(tmp_path / f"machine{rank}", starter_dir) for rank in (0, 1)]
    nodes = [_node(machine, rank, port) for rank, machine in enumerate(machines)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (out, err) in zip(nodes, outputs):
        assert node.returncode == 0, (out + err)[-3000:]

    log = (machines[0].runs_dir / "two-nodes" / "train.log").read_text()
    assert "--num_machines 2" in log and "--machine_rank 0" in log and "2 process(es)" in log
    for machine in machines:  # each machine's run says how it ended
        status = json.loads((machine.runs_dir / "two-nodes" / "status.json").read_text())
        assert status["state"] == "completed", status
    # the node of rank 0 keeps the model (transformers 5 writes weights on the global rank 0 only)
    assert (machines[0].runs_dir / "two-nodes" / "final" / "model.safetensors").is_file()
    one, two = _losses(single, "one"), _losses(machines[0], "two-nodes")
    assert len(one) == len(two) == STEPS_LOGGED
    # The same 8 blocks per step, split 4 + 4; only dropout's random masks differ between the two setups.
    assert two == pytest.approx(one, rel=0.02)
