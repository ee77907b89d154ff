"""The rating rubric of a workspace: what each criterion asks the rater, editable, kept in `rubric.json`.

The four criteria themselves are fixed (they are the database's columns); their descriptions are the workspace's.
"""

from __future__ import annotations

import json

from core.errors import UserError
from core.ratings.store import CRITERIA
from core.workspace import Workspace


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
        raise UserError(f"the rubric has the criteria {', '.join(CRITERIA)}; not {', '.join(sorted(unknown))}")
    workspace.root.mkdir(parents=True, exist_ok=True)
    cleaned = {c: descriptions.get(c, "").strip() for c in CRITERIA}
    _path(workspace).write_text(json.dumps(cleaned, ensure_ascii=False, indent=2), encoding="utf-8")
