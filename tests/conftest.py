"""Shared fixtures: an offline hub, a starter model built once per session, a fresh workspace per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub: tests never reach the network
# One OpenMP thread in every process the suite starts (its workers, the servers, trainers and commands they start),
# set before torch is imported: `make test` runs two workers on two cores, and a process with more threads than its
# share of the cores spins in OpenMP barriers and runs several times slower (a test that wants more sets more).
for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip when a test's outside need is missing; under CI=true that absence is a failure instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def starter_dir(tmp_path_factory) -> Path:
    from core.models.starter import build_starter

    out = tmp_path_factory.mktemp("starter") / "starter"
    build_starter(out)
    return out


@pytest.fixture
def workspace(tmp_path, monkeypatch, starter_dir):
    """An empty workspace (QUILL_HOME) that already holds the starter model."""
    from core.workspace import Workspace

    root = tmp_path / "workspace"
    shutil.copytree(starter_dir, root / "models" / "starter")
    monkeypatch.setenv("QUILL_HOME", str(root))
    return Workspace(root)


@pytest.fixture(scope="session")
def tiny_model(starter_dir):
    """(tokenizer, model): the starter's tokenizer and a one-layer GPT-2 of width 32 over its vocabulary, built in
    memory once. For page tests that check what a page shows, not what a model writes."""
    from transformers import AutoTokenizer

    from core.models.starter import StarterConfig, build_model

    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = build_model(StarterConfig(n_layer=1, n_embd=32, n_head=2), len(tokenizer), tokenizer.eos_token_id)
    return tokenizer, model.eval()


@pytest.fixture
def quick_models(monkeypatch, tiny_model):
    """Page tests of layout: a local model (the starter, a run's checkpoint) loads as `tiny_model`, patched at
    `core.models.load`, the boundary every page and the grid load through. Hub names still go through the real
    loader, so "cannot load" stays real. The Playground's model cache is emptied before and after: no test sees
    another's models."""
    from core import models
    from dashboard.playground import playground_state

    real_load = models.load

    def load(name, workspace=None, *, for_training=False, **options):
        if models.resolve(name, workspace, confined=options.get("confined", False)).is_hub:
            return real_load(name, workspace, for_training=for_training, **options)
        return tiny_model

    monkeypatch.setattr(models, "load", load)
    playground_state.model.clear()
    yield tiny_model
    playground_state.model.clear()


def core_env(**extra: str) -> dict[str, str]:
    """Environment for a `python -m core` subprocess run from the repository root (the project is installed, and
    `-m` puts the working directory first, so a subprocess runs this checkout's code)."""
    env = {**os.environ, **extra}
    return {k: v for k, v in env.items() if v is not None}


def run_core(*args, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    """`python -m core ARGS` in a subprocess, as a user types it. A Workspace as the first argument becomes
    QUILL_HOME. One OpenMP thread: on a busy 2-core machine, threads that lose their core spin and run several times slower."""
    from core.workspace import Workspace

    if args and isinstance(args[0], Workspace):
        env = {"QUILL_HOME": str(args[0].root), **env}
        args = args[1:]
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, env=core_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def poll(predicate, timeout: float, every: float = 0.2):
    """Call `predicate` until it returns something truthy, and return that; TimeoutError after `timeout` s. The way
    tests wait on another process: on a condition with a deadline, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"gave up after {timeout} s")


@dataclass
class TrainedRun:
    workspace: object  # core.workspace.Workspace: the starter, the `sample` dataset and this one run
    run_dir: Path
    command: subprocess.CompletedProcess  # what `python -m core train` printed


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, starter_dir) -> TrainedRun:
    """One short fine-tune of the starter on the sample corpus, typed as a user would (`python -m core train`),
    shared read-only by the tests that need a finished run: the command's report, the worker's phases and logs,
    its checkpoints evaluated. A trainer launch costs ~20 s of start-up on two cores whatever its steps, so one
    run serves them all. Read it, never add runs to its workspace (`runs` lists exactly this one)."""
    from core.data import dataset
    from core.data.corpus import sample_texts
    from core.workspace import Workspace

    root = tmp_path_factory.mktemp("trained") / "workspace"
    shutil.copytree(starter_dir, root / "models" / "starter")
    dataset.save(root / "datasets" / "sample", sample_texts(), recipe={}, report={})
    workspace = Workspace(root)
    done = run_core(workspace, "train", "--data", "sample", "--model", "starter", "--max-steps", "20",
                    "--eval-steps", "20", "--logging-steps", "5", "--block-size", "64", "--batch-size", "4",
                    "--device", "cpu", "--gallery-prompts", "The", "--gallery-max-new-tokens", "4", "--name", "shared")
    return TrainedRun(workspace, workspace.runs_dir / "shared", done)
