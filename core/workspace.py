"""The workspace: where every stage leaves its artifacts (datasets, runs, models, the lab database)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

DEFAULT_HOME = Path("workspace")
DATA_ROOTS_ENV = "QUILL_DATA_ROOTS"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls) -> Workspace:
        """`QUILL_HOME` if set, else `./workspace` (relative to where the lab was started)."""
        return cls(Path(os.environ.get("QUILL_HOME") or DEFAULT_HOME).expanduser().resolve())

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def starter_dir(self) -> Path:
        return self.models_dir / "starter"

    @property
    def inbox_dir(self) -> Path:
        """Where people put files for the Data page's "folder on the server" source."""
        return self.root / "inbox"

    def data_roots(self) -> list[Path]:
        """The folders the server may read text from: the inbox (made on first use) and those in `QUILL_DATA_ROOTS`
        (os.pathsep-separated), resolved, so a symlink cannot stand in for a folder outside them."""
        self.inbox_dir.mkdir(parents=True, exist_ok=True)
        listed = os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep)
        roots = [self.inbox_dir.resolve(), *(Path(p).expanduser().resolve() for p in listed if p.strip())]
        return list(dict.fromkeys(roots))  # in order, each once

    @property
    def db_path(self) -> Path:
        return self.root / "lab.sqlite"

    def datasets(self) -> list[Path]:
        """Dataset directories (those holding a `data.jsonl`), newest first."""
        return _newest_first(p for p in _subdirs(self.datasets_dir) if (p / "data.jsonl").is_file())

    def runs(self) -> list[Path]:
        """Run directories (those holding a `config.json` or `status.json`), newest first."""
        return _newest_first(p for p in _subdirs(self.runs_dir) if _is_run(p))

    def run_dir(self, run_id: str) -> Path:
        """The folder of the run named `run_id`: the one way a name from a URL, a command line or a model name
        becomes a run. Only a plain name (one path component, not hidden) of an existing run inside `runs/`
        (symlinks resolved) counts; `../x`, `/etc` or `a/b` is "no such run", never a folder elsewhere."""
        if is_plain_name(run_id):
            path = self.runs_dir / run_id
            if _is_run(path) and path.resolve().parent == self.runs_dir.resolve():
                return path
        raise UserError(f"no such run '{run_id}': `python -m core runs` lists the runs")

    def summary(self) -> WorkspaceSummary:
        datasets, runs = self.datasets(), self.runs()
        return WorkspaceSummary(
            root=self.root,
            datasets=len(datasets),
            latest_dataset=datasets[0].name if datasets else None,
            runs=len(runs),
            latest_run=runs[0].name if runs else None,
            latest_run_state=_read_state(runs[0]) if runs else None,
            rated_samples=_count_rated_samples(self.db_path),
            starter_ready=(self.starter_dir / "config.json").is_file(),
        )


@dataclass(frozen=True)
class WorkspaceSummary:
    root: Path
    datasets: int
    latest_dataset: str | None
    runs: int
    latest_run: str | None
    latest_run_state: str | None
    rated_samples: int
    starter_ready: bool


def is_plain_name(name) -> bool:
    """One visible path component: no separator (either OS's), no '..', no leading dot, no NUL."""
    return (isinstance(name, str) and bool(name) and not name.startswith(".")
            and not any(c in name for c in ("/", "\\", "\0")))


def _is_run(path: Path) -> bool:
    try:
        return path.is_dir() and ((path / "status.json").is_file() or (path / "config.json").is_file())
    except OSError:  # a name too long for the file system is no run either
        return False


def _subdirs(path: Path) -> list[Path]:
    """Visible folders: a hidden one is a save in progress (or killed) and no artifact yet (core.files)."""
    return [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")] if path.is_dir() else []


def _newest_first(paths) -> list[Path]:
    return sorted(paths, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def _read_state(run_dir: Path) -> str | None:
    try:
        status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    state = status.get("state") if isinstance(status, dict) else None  # a corrupt file must not break Home
    return state if isinstance(state, str) else None


def _count_rated_samples(db_path: Path) -> int:
    """Through the store, so a PostgreSQL database (QUILL_DB_URL) counts too; 0 before there is any database."""
    from core.ratings.store import open_store  # here, not at the top: the store imports this module

    url = os.environ.get("QUILL_DB_URL")
    if not url and not db_path.is_file():
        return 0
    try:
        with open_store(url or f"sqlite:///{db_path}") as store:
            return store.count_rated_samples()
    except UserError:
        return 0  # an unreachable or timed-out database must not break the Home page; the Ratings page says why
