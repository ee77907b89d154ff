"""Saved sets of decoding settings (a Playground grid's columns), as JSON in `workspace/presets/playground/`.

The file format is the one `python -m core sample --configs FILE.json` reads: a list of DecodingConfig objects.
"""

from __future__ import annotations

import json
from dataclasses import replace

from core.data.dataset import check_name
from core.errors import UserError
from core.playground.sampling import DecodingConfig
from core.workspace import Workspace

# The checkpoint gallery's decoding: the training worker samples with it, and a gallery imported into the ratings
# records it as each sample's settings. top_k=50 is what the gallery always had (transformers' default, unnamed).
GALLERY = DecodingConfig(name="gallery", do_sample=True, temperature=0.8, top_k=50, top_p=0.9)


def gallery_decoding(max_new_tokens: int, seed: int = 0) -> DecodingConfig:
    """The gallery's decoding setting with a run's `gallery_max_new_tokens` and `gallery_seed`."""
    return replace(GALLERY, max_new_tokens=max_new_tokens, seed=seed)


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
        raise UserError.coded("preset_not_saved", name=name)
    return loads(path.read_text(encoding="utf-8"))


def dumps(configs: list[DecodingConfig]) -> str:
    return json.dumps([c.to_dict() for c in configs], ensure_ascii=False, indent=2)


def loads(text: str, origin: str = "the settings file") -> list[DecodingConfig]:
    """A JSON list of decoding settings, each an object with a distinct `name`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError.coded("settings_not_json", origin=origin, reason=exc) from exc
    if not isinstance(data, list) or not data:
        raise UserError.coded("settings_not_list", origin=origin)
    configs = []
    for number, item in enumerate(data, 1):
        if isinstance(item, dict) and not item.get("name"):  # else the default name would label it "greedy"
            raise UserError.coded("setting_needs_name", origin=origin, number=number)
        try:
            configs.append(DecodingConfig.from_dict(item))
        except UserError as exc:
            raise UserError.coded("setting_invalid", origin=origin, number=number, reason=exc) from exc
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise UserError.coded("settings_names_repeat", origin=origin, names=", ".join(names))
    return configs
