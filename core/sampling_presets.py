"""Saved sets of decoding settings (a Playground grid's columns), as JSON in `workspace/presets/playground/`.

The file format is the one `python -m core sample --configs FILE.json` reads: a list of DecodingConfig objects.
"""

from __future__ import annotations

import json

from core.dataset import check_name
from core.errors import UserError
from core.sampling import DecodingConfig
from core.workspace import Workspace


def _dir(workspace: Workspace):
    return workspace.root / "presets" / "playground"


def names(workspace: Workspace) -> list[str]:
    folder = _dir(workspace)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def save(workspace: Workspace, name: str, configs: list[DecodingConfig]) -> None:
    folder = _dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{check_name(name)}.json").write_text(dumps(configs), encoding="utf-8")


def load(workspace: Workspace, name: str) -> list[DecodingConfig]:
    path = _dir(workspace) / f"{check_name(name)}.json"
    if not path.is_file():
        raise UserError(f"no saved preset '{name}'")
    return loads(path.read_text(encoding="utf-8"))


def dumps(configs: list[DecodingConfig]) -> str:
    return json.dumps([c.to_dict() for c in configs], ensure_ascii=False, indent=2)


def loads(text: str) -> list[DecodingConfig]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"the settings file is not valid JSON: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise UserError("a settings file is a JSON list of objects, one per column")
    configs = [DecodingConfig.from_dict(item) for item in data]
    if len({c.name for c in configs}) != len(configs):
        raise UserError("each column needs its own name")
    return configs
