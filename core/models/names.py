"""Short, human names for where a model came from: a run's name and step, never a filesystem path."""

from __future__ import annotations

import re
from pathlib import PurePath

_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def short_model_name(location: str | None, *, step_word: str = "step", final_word: str = "final") -> str:
    """`/ws/runs/poems-1/checkpoint-200` → "poems-1 · step 200"; `…/poems-1/final` → "poems-1 · final";
    `checkpoint-200` → "step 200"; the starter's directory → "starter"; a hub id (gpt2, uer/gpt2-chinese-…) as it is;
    any other directory → its last part. `step_word`/`final_word` let a page pass its translated words."""
    if not location:
        return "–"
    path = PurePath(str(location).replace("\\", "/").rstrip("/"))
    match = _CHECKPOINT.fullmatch(path.name)
    if match:
        return f"{path.parent.name} · {step_word} {match.group(1)}" if path.parent.name else f"{step_word} {match.group(1)}"
    if path.name == "final" and path.parent.name:
        return f"{path.parent.name} · {final_word}"
    if len(path.parts) == 2 and not str(path).startswith(("/", ".", "~")):
        return str(path)  # a hub id: owner/model
    return path.name
