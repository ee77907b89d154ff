"""A saved dataset: `workspace/datasets/<name>/` with `data.jsonl` (training documents), `validation.jsonl`,
`recipe.json` (the cleaning recipe that made it) and `report.json` (what each step did, the split, the files)."""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.errors import UserError
from core.files import check_replaceable, fault, is_staging, read_json_object, staged_directory
from core.workspace import Workspace

MIN_DOCS_FOR_DOCUMENT_SPLIT = 10  # below this, every document gives its last part to validation instead
_NAME = re.compile(r"^[\w][\w.\-]{0,63}$")  # \w includes CJK: 唐诗-v2 is a fine name
FILES = ("data.jsonl", "validation.jsonl", "recipe.json", "report.json", "README.md")  # all that `save` writes
DERIVED = ("index", "tokens", "datamap")  # folders the lab builds later from data.jsonl (the memorization index,
# the token files of core.data.tokens, the data maps of core.evaluation.document_loss): its own, replaced with it
MARKERS = ("data.jsonl", "recipe.json", "report.json")  # a folder holding these is a dataset the lab saved


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    path: Path
    documents: int
    validation_documents: int
    chars: int
    bytes: int
    created: str


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise UserError.coded("dataset_name_bad", name=name)
    return name


def split(texts: list[str], ratio: float = 0.1, seed: int = 0) -> tuple[list[str], list[str], dict]:
    """Training and validation texts, and how they were split.

    By document (chosen at random with the seed) when there are enough documents; otherwise by position: the last
    `ratio` of each document (cut at a line break near there when one is close) goes to validation, so that even
    one novel in one file leaves something to evaluate on.
    """
    if not 0 < ratio < 1:
        raise UserError.coded("validation_ratio", ratio=ratio)
    if not texts:
        raise UserError.coded("no_documents_to_save")
    if len(texts) >= MIN_DOCS_FOR_DOCUMENT_SPLIT:
        count = max(1, round(len(texts) * ratio))
        chosen = set(random.Random(seed).sample(range(len(texts)), count))
        train = [t for i, t in enumerate(texts) if i not in chosen]
        validation = [t for i, t in enumerate(texts) if i in chosen]
        return train, validation, {"by": "document", "ratio": ratio, "seed": seed}
    train, validation = [], []
    for text in texts:
        cut = _cut_point(text, ratio)
        if text[:cut].strip():
            train.append(text[:cut].rstrip())
        if text[cut:].strip():
            validation.append(text[cut:].strip())
    return train, validation, {"by": "position", "ratio": ratio, "seed": seed}


def _cut_point(text: str, ratio: float) -> int:
    cut = int(len(text) * (1 - ratio))
    window = max(1, len(text) // 20)  # look for a line break within 5% of the text before the cut
    newline = text.rfind("\n", cut - window, cut)
    return newline + 1 if newline > 0 else cut


def save(out: Path, texts: list[str], *, recipe: dict, report: dict, ratio: float = 0.1, seed: int = 0,
         overwrite: bool = False) -> dict:
    """Write a dataset directory atomically (a half-written dataset never shows); returns its split summary."""
    out = Path(out)
    check_writable(out, overwrite)
    train, validation, how = split(texts, ratio, seed)
    summary = {**how, "train_documents": len(train), "validation_documents": len(validation)}
    full_report = {**report, "split": summary, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with staged_directory(out, foreign_files) as staging:
        _write_jsonl(staging / "data.jsonl", train)
        fault("kill-during-save")  # test hook: a save killed halfway must leave nothing visible
        _write_jsonl(staging / "validation.jsonl", validation)
        (staging / "recipe.json").write_text(json.dumps(recipe, ensure_ascii=False, indent=2), encoding="utf-8")
        (staging / "report.json").write_text(json.dumps(full_report, ensure_ascii=False, indent=2), encoding="utf-8")
        (staging / "README.md").write_text(DATASET_CARD, encoding="utf-8")
    return summary


# A dataset card whose YAML names the splits' files, so that `datasets.load_dataset("<dataset folder>")` reads
# data.jsonl as "train" (by its file names alone it would take validation.jsonl only).
DATASET_CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data.jsonl
  - split: validation
    path: validation.jsonl
---

A dataset saved by Quill Lab: one {"text": ...} per line; recipe.json is the cleaning recipe that made it and
report.json what each step did. Read it with `datasets.load_dataset("path/to/this/folder")`.
"""


def check_writable(out: Path, overwrite: bool) -> None:
    """A UserError unless `save(out, overwrite=overwrite)` may write there: new, empty, or a dataset to overwrite."""
    out = Path(out)
    if out.exists() and not overwrite and not (out.is_dir() and not any(out.iterdir())):
        raise UserError.coded("dataset_exists", path=out)
    check_replaceable(out, foreign_files)


def foreign_files(path: Path) -> list[str]:
    """The entries of `path` that `save` did not write: all of them unless it holds a dataset's marker files."""
    names = sorted((p.name for p in Path(path).iterdir()), key=lambda name: (name in FILES, name))
    if not all((Path(path) / marker).is_file() for marker in MARKERS):
        return names  # the user's own files first, as the example in the refusal
    return [name for name in names if not _made_by_lab(Path(path) / name)]


def _made_by_lab(entry: Path) -> bool:
    if entry.name in DERIVED:
        return entry.is_dir() and not entry.is_symlink()
    return entry.name in FILES and entry.is_file()


def _write_jsonl(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


def read_texts(path: Path, part: str = "data") -> list[str]:
    """The texts of `data.jsonl` (training) or `validation.jsonl`."""
    with (Path(path) / f"{part}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def info(path: Path) -> DatasetInfo:
    report = read_report(path)
    split_summary = report.get("split", {})
    return DatasetInfo(
        name=path.name,
        path=path,
        documents=split_summary.get("train_documents", 0),
        validation_documents=split_summary.get("validation_documents", 0),
        chars=report.get("chars_out", 0),
        bytes=sum(f.stat().st_size for f in path.iterdir() if f.is_file()),
        created=report.get("created", ""),
    )


def list_datasets(workspace: Workspace) -> list[DatasetInfo]:
    return [info(path) for path in workspace.datasets()]


def resolve(workspace: Workspace, name_or_path: str) -> Path:
    """A dataset by its name in the workspace, or a dataset directory anywhere."""
    for candidate in (workspace.datasets_dir / name_or_path, Path(name_or_path).expanduser()):
        if (candidate / "data.jsonl").is_file() and not is_staging(candidate):  # a half-written save is none
            return candidate
    raise UserError.coded("dataset_missing", name=name_or_path)


def delete(workspace: Workspace, name: str) -> None:
    path = workspace.datasets_dir / check_name(name)
    if not (path / "data.jsonl").is_file():
        raise UserError.coded("dataset_not_in_workspace", name=name)
    shutil.rmtree(path)


def read_report(path: Path) -> dict:
    return read_json_object(Path(path) / "report.json")
