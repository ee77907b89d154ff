"""The rating rubric: the criteria, the scores and the vote outcomes (the one definition the store's columns and
checks, the aggregates, import/export and the pages all import), and what each criterion asks the rater in this
workspace, editable, kept in `rubric.json`.

The four criteria themselves are fixed (they are the database's columns); their descriptions are the workspace's.
"""

from __future__ import annotations

import json

from core.errors import UserError
from core.workspace import Workspace

CRITERIA: tuple[str, ...] = ("fluency", "coherence", "style", "repetition")  # "repetition": 5 = free of it
SCORES: tuple[int, ...] = (1, 2, 3, 4, 5)  # a score on every criterion
OUTCOMES: tuple[str, ...] = ("a", "b", "tie", "both_bad")  # a blind vote: A better, B better, tie, both bad


def _path(workspace: Workspace):
    return workspace.root / "rubric.json"


def load(workspace: Workspace) -> dict[str, str]:
    """Criterion -> the workspace's description ('' where none was written: the page shows its default)."""
    try:
        saved = json.loads(_path(workspace).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    return {criterion: str(saved.get(criterion, "")) for criterion in CRITERIA}


def save(workspace: Workspace, descriptions: dict[str, str]) -> None:
    unknown = set(descriptions) - set(CRITERIA)
    if unknown:
        raise UserError.coded("rubric_criteria", criteria=", ".join(CRITERIA), unknown=", ".join(sorted(unknown)))
    workspace.root.mkdir(parents=True, exist_ok=True)
    cleaned = {c: descriptions.get(c, "").strip() for c in CRITERIA}
    _path(workspace).write_text(json.dumps(cleaned, ensure_ascii=False, indent=2), encoding="utf-8")
