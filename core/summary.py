"""Where a workspace stands, for the Home page: counts and the latest of each artifact.

Above the workspace, the runs and the store (it reads all three), so none of them needs to import another to
answer Home; the latest run's state comes from `runs.status`, the one place a run's state is derived.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.ratings.store import open_store
from core.train import runs
from core.train.state import RunState
from core.workspace import Workspace


@dataclass(frozen=True)
class WorkspaceSummary:
    root: Path
    datasets: int
    latest_dataset: str | None
    runs: int
    latest_run: str | None
    latest_run_state: RunState | None
    rated_samples: int
    starter_ready: bool


def summarize(workspace: Workspace) -> WorkspaceSummary:
    datasets, run_dirs = workspace.datasets(), workspace.runs()
    return WorkspaceSummary(
        root=workspace.root,
        datasets=len(datasets),
        latest_dataset=datasets[0].name if datasets else None,
        runs=len(run_dirs),
        latest_run=run_dirs[0].name if run_dirs else None,
        latest_run_state=runs.status(run_dirs[0])["state"] if run_dirs else None,
        rated_samples=_count_rated_samples(workspace),
        starter_ready=(workspace.starter_dir / "config.json").is_file(),
    )


def _count_rated_samples(workspace: Workspace) -> int:
    """Through the store, so a PostgreSQL database (QUILL_DB_URL) counts too; 0 before there is any database."""
    if not os.environ.get("QUILL_DB_URL") and not workspace.db_path.is_file():
        return 0  # opening would create it: Home only reads
    try:
        with open_store(workspace.db_url) as store:
            return store.count_rated_samples()
    except UserError:
        return 0  # an unreachable or timed-out database must not break the Home page; the Ratings page says why
