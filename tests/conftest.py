"""Shared fixtures: an offline hub, a starter model built once per session, a fresh workspace per test."""

from __future__ import annotations

import os
import shutil
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
    from core.starter import build_starter

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
    """Environment for a `python -m core` subprocess run from the repository root."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    return {k: v for k, v in env.items() if v is not None}
