"""A run folder, `workspace/runs/<id>/`: the one place that knows its layout (config.json, status.json,
metrics.jsonl, samples.jsonl, train.log, checkpoint-N/, final/), reads its files with the types their readers rely
on, and writes them so that a reader never sees half a file.

The launcher (`core.train.runs`), the trainer (`core.train.worker`), the model resolver and every page go through
`RunDir`; no other module spells a run's file names (the workspace lists runs with `is_run`). Light on purpose: no torch, no transformers (the trainer
imports this before its first step, and the page on every rerun).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.files import append_jsonl, read_json, read_jsonl, write_text_atomic
from core.train.config import TrainConfig
from core.train.state import WRITTEN, RunState

# What a run id may be (sweeps' names and trials too): one visible path component, the same on every file system.
RUN_ID = re.compile(r"\w[\w.-]{0,99}")
_NOT_ID = re.compile(r"[^\w.-]+")
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_FINAL = "final"


_NAME_BAD = {"run": "run_name_bad", "sweep": "sweep_name_bad"}  # the error code for each kind of name


def check_name(name: str, what: str = "run") -> str:
    """A name the user gave, as it is, or a UserError: a name is never rewritten into another one."""
    if not isinstance(name, str) or not RUN_ID.fullmatch(name):
        raise UserError.coded(_NAME_BAD[what], name=name)
    return name


def slug(text: str) -> str:
    """A default run id from names the lab chose (model, dataset, time): what a run id may not hold becomes '-'."""
    return _NOT_ID.sub("-", text).strip("-.")[:100]


def is_final(path: Path | str) -> bool:
    """A run's `final/` folder, by its name."""
    return Path(path).name == _FINAL


def checkpoint_step(path: Path | str) -> int | None:
    """N of a `checkpoint-N` folder, None for anything else."""
    match = _CHECKPOINT.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


# ---- the files' shapes -------------------------------------------------------------------------------------

_NUMBER = (int, float)
_PID_MAX = 2**31 - 1  # what fits a pid_t: os.kill raises OverflowError past it
# The fields readers rely on and their types (None is allowed for each); anything else makes the file unreadable.
_STATUS_FIELDS = {
    "state": str, "pid": int, "worker_pid": int, "exit_code": int, "step": int, "max_steps": int,
    "created": _NUMBER, "launched": _NUMBER, "started": _NUMBER, "resumed": _NUMBER, "ended": _NUMBER,
    "updated": _NUMBER, "stop_requested": _NUMBER, "epoch": _NUMBER, "best_eval_loss": _NUMBER,
    "final_eval_loss": _NUMBER, "final_perplexity": _NUMBER, "final_bits_per_char": _NUMBER,
    "best_bits_per_char": _NUMBER, "time_budget_s": _NUMBER, "model_size": str, "stopped_early": bool,
    "dropout": _NUMBER, "epochs_planned": _NUMBER, "epochs_projected": _NUMBER,
    "error": str, "traceback": str,
    "best_checkpoint": str, "last_checkpoint": str, "resumed_from": str, "devices": list,
    "skipped_checkpoints": list,  # lists hold text
}
METRICS, SAMPLES = "metrics.jsonl", "samples.jsonl"
_LINE_FIELDS = {
    METRICS: {"step": int, "epoch": _NUMBER, "loss": _NUMBER, "learning_rate": _NUMBER, "grad_norm": _NUMBER,
              "tokens_per_s": _NUMBER, "time": _NUMBER, "gpu_memory_gb": _NUMBER, "eval_loss": _NUMBER,
              "perplexity": _NUMBER, "bits_per_char": _NUMBER, "bits_per_byte": _NUMBER},
    SAMPLES: {"step": int, "prompt": str, "text": str, "seed": int},
}
_LINE_REQUIRED = {METRICS: ("step",), SAMPLES: ("prompt", "text")}  # a gallery line: a sample record (or, before, {step, ...})
_KIND_NAMES = {int: "an integer", _NUMBER: "a number", str: "text", list: "a list", bool: "true or false"}


def type_problem(record: object, types: dict, required: tuple[str, ...] = ()) -> str | None:
    """Why a record does not have the shape its readers rely on, or None. The reason names fields and types only,
    never the file's content: it is shown on the page."""
    if not isinstance(record, dict):
        return f"{type(record).__name__} instead of an object"
    for name in required:
        if record.get(name) is None:
            return f"no '{name}'"
    for name, kind in types.items():
        value = record.get(name)
        if value is None:
            continue
        # bool is an int to Python, never a step, a pid or a time here
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            return f"'{name}' is {type(value).__name__}, not {_KIND_NAMES[kind]}"
        if kind is list and not all(isinstance(item, str) for item in value):
            return f"'{name}' holds something other than text"
    return None


@dataclass(frozen=True)
class Lines:
    """The readable records of a .jsonl file the trainer appends to, and why the first unreadable line is not."""

    records: list  # the lines as dicts, or the records a reader makes of them (core.train.gallery)
    problem: str | None = None  # e.g. "metrics.jsonl line 3: list instead of an object"; such lines are left out


# ---- the folder ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunDir:
    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def id(self) -> str:
        return self.path.name

    # the layout: these names are spelled nowhere else
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    @property
    def samples_file(self) -> Path:
        return self.path / SAMPLES

    @property
    def log_file(self) -> Path:
        return self.path / "train.log"

    @property
    def debug_log_file(self) -> Path:
        return self.path / "train.debug.log"  # the libraries' warnings, kept out of train.log

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    @property
    def final_dir(self) -> Path:
        return self.path / _FINAL

    def checkpoint(self, step: int) -> Path:
        return self.path / f"checkpoint-{step}"

    def checkpoint_dirs(self) -> list[Path]:
        """checkpoint-N folders, complete or not, by step."""
        found = [p for p in self.path.glob("checkpoint-*") if p.is_dir() and checkpoint_step(p) is not None]
        return sorted(found, key=checkpoint_step)

    def is_run(self) -> bool:
        """A folder holding a run's config or status (what the run listing counts)."""
        try:
            return self.path.is_dir() and (self.status_file.is_file() or self.config_file.is_file())
        except OSError:  # a name too long for the file system is no run either
            return False

    # config.json
    def config(self) -> TrainConfig:
        return TrainConfig.load(self.config_file)

    def config_dict(self) -> dict:
        """config.json as a plain object (a config diff, a model card), or a UserError saying why it is unreadable."""
        data, problem = read_json(self.config_file)
        if problem or not isinstance(data, dict):
            raise UserError.coded("run_config_unreadable", run=self.id,
                                      problem=problem or f"{self.config_file.name} is not an object")
        return data

    def write_config(self, config: TrainConfig) -> None:
        write_text_atomic(self.config_file, config.to_json())

    # status.json
    def load_status(self) -> tuple[dict, str | None]:
        """(status.json, None), or ({}, why it is unreadable). No file yet is a run being created: queued."""
        if not self.status_file.exists():
            return {"state": RunState.QUEUED}, None
        data, problem = read_json(self.status_file)
        problem = problem or type_problem(data, _STATUS_FIELDS, required=("state",))
        if problem is None and data["state"] not in WRITTEN:
            problem = "unknown 'state'"
        if problem is None and data.get("pid") is not None and not 0 < data["pid"] <= _PID_MAX:
            problem = f"'pid' is {data['pid']}"  # 0 or negative would signal a whole process group
        return (data, None) if problem is None else ({}, f"{self.status_file.name}: {problem}")

    def read_status(self) -> dict:
        """status.json as written, {} when it is missing or unreadable: what a writer merges its changes into (so a
        wrongly typed field is dropped by the next write rather than carried forward)."""
        if not self.status_file.exists():
            return {}
        data, problem = self.load_status()
        return {} if problem else data

    def update_status(self, **changes) -> dict:
        """Merge changes into status.json atomically: a reader sees the old file or the new one, never half of one."""
        status = {**self.read_status(), **changes, "updated": time.time()}
        write_text_atomic(self.status_file, json.dumps(status, ensure_ascii=False, indent=2, default=str))
        return status

    # metrics.jsonl, samples.jsonl, train.log
    def metrics(self) -> Lines:
        return self._lines(self.metrics_file)

    def samples(self, check: Callable[[dict], str | None] | None = None) -> Lines:
        """The gallery's lines (core.train.gallery knows their shape and passes `check`, what is wrong with one)."""
        return self._lines(self.samples_file, check)

    def append_metrics(self, record: dict) -> None:
        append_jsonl(self.metrics_file, record)

    def append_sample(self, record: dict) -> None:
        append_jsonl(self.samples_file, record)

    def _lines(self, path: Path, check: Callable[[dict], str | None] | None = None) -> Lines:
        def problem(record):
            return type_problem(record, _LINE_FIELDS[path.name], _LINE_REQUIRED[path.name]) or (check and check(record))

        return Lines(*read_jsonl(path, problem))

    def log_tail(self, lines: int = 40) -> str:
        try:
            with self.log_file.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 200 * lines - 4096))  # enough bytes for the last lines, not the whole log
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# The trainer and the launcher name a run by its folder's path: these save them a RunDir(...) at every call.
def read_status(run_dir: Path) -> dict:
    return RunDir(run_dir).read_status()


def update_status(run_dir: Path, **changes) -> dict:
    return RunDir(run_dir).update_status(**changes)
