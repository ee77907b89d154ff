"""Shared fixtures: an offline hub, a starter model built once per session, a fresh workspace per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub: tests never reach the network

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
