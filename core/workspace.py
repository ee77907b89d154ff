"""The workspace: where every stage leaves its artifacts (datasets, runs, models, the lab database)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.train.run_dir import RunDir

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

    @property
    def db_url(self) -> str:
        """The lab database: `QUILL_DB_URL` if set (any SQLAlchemy URL), else this workspace's `lab.sqlite`."""
        return os.environ.get("QUILL_DB_URL") or f"sqlite:///{self.db_path}"

    def owns(self, path: Path) -> bool:
        """`path` (symlinks resolved) is one of the lab's own files, which no command's `--out` may replace: the
        database (with SQLite's -journal/-wal/-shm beside it), the queue, or anything in a folder of runs, datasets,
        models, drafts or locks."""
        path = Path(path).expanduser().resolve()
        databases = [self.db_path.resolve()]
        url = os.environ.get("QUILL_DB_URL") or ""
        if url.startswith("sqlite:///"):
            databases.append(Path(url.removeprefix("sqlite:///").split("?")[0]).expanduser().resolve())
        if any(path.parent == db.parent and path.name.startswith(db.name) for db in databases):
            return True
        root = self.root.resolve()
        folders = [root / name for name in ("runs", "datasets", "models", "drafts", "locks")]
        return path == root / "queue.json" or any(path.is_relative_to(folder) for folder in folders)

    def datasets(self) -> list[Path]:
        """Dataset directories (those holding a `data.jsonl`), the last saved first: by when data.jsonl was written,
        not the folder's change time, which a token cache written by a later training run moves on."""
        found = [p for p in _subdirs(self.datasets_dir) if (p / "data.jsonl").is_file()]
        return sorted(found, key=lambda p: ((p / "data.jsonl").stat().st_mtime, p.name), reverse=True)

    def runs(self) -> list[Path]:
        """Run directories (those holding a `config.json` or `status.json`), newest first."""
        return _newest_first(p for p in _subdirs(self.runs_dir) if _is_run(p))

    @classmethod
    def of_run(cls, run_dir: Path) -> Workspace:
        """The workspace a run lives in (<workspace>/runs/<id>); the environment's for a run folder elsewhere."""
        run_dir = Path(run_dir).resolve()
        return cls(run_dir.parent.parent) if run_dir.parent.name == "runs" else cls.from_env()

    def run_dir(self, run_id: str) -> Path:
        """The folder of the run named `run_id`: the one way a name from a URL, a command line or a model name
        becomes a run. Only a plain name (one path component, not hidden) of an existing run inside `runs/`
        (symlinks resolved) counts; `../x`, `/etc` or `a/b` is "no such run", never a folder elsewhere."""
        if is_plain_name(run_id):
            path = self.runs_dir / run_id
            if _is_run(path) and path.resolve().parent == self.runs_dir.resolve():
                return path
        raise UserError.coded("run_missing", run=run_id)


def is_plain_name(name) -> bool:
    """One visible path component: no separator (either OS's), no '..', no leading dot, no NUL."""
    return (isinstance(name, str) and bool(name) and not name.startswith(".")
            and not any(c in name for c in ("/", "\\", "\0")))


def _is_run(path: Path) -> bool:
    return RunDir(path).is_run()


def _subdirs(path: Path) -> list[Path]:
    """Visible folders: a hidden one is a save in progress (or killed) and no artifact yet (core.files)."""
    return [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")] if path.is_dir() else []


def _newest_first(paths) -> list[Path]:
    return sorted(paths, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
