"""Which decoding setting writes: any saved Playground column, or the best-rated one for the model (the default
when ratings exist: the setting whose rubric means average highest, as the model card names it)."""

from __future__ import annotations

import os

from core.errors import UserError
from core.playground import presets
from core.playground.sampling import DEFAULT_CONFIGS, DecodingConfig
from core.workspace import Workspace

FALLBACK = "top-p 0.9"  # without ratings: a sampling setting, so that the alternatives differ


def available(workspace: Workspace) -> dict[str, DecodingConfig]:
    """Every setting a writer can pick, by label: the Playground's defaults, then each saved preset's columns
    (labelled "preset / column")."""
    found = {config.name: config for config in DEFAULT_CONFIGS}
    for preset in presets.names(workspace):
        try:
            found.update({f"{preset} / {c.name}": c for c in presets.load(workspace, preset)})
        except UserError:
            continue  # a damaged preset file is the Playground's to report; the others stay usable
    return found


def best_rated(workspace: Workspace, model: str) -> DecodingConfig | None:
    """The best-rated setting among the ratings of `model`'s samples; None without ratings (reading never creates
    the database)."""
    # lazy: sqlalchemy, numpy take ~230 ms to import, and only this path needs them
    from core.ratings.aggregates import best_setting
    from core.ratings.store import open_store

    if not os.environ.get("QUILL_DB_URL") and not workspace.db_path.exists():
        return None
    with open_store(workspace.db_url) as store:
        rated = [r for r in store.ratings() if r.get("model") == model and r.get("settings")]
    best = best_setting(rated)
    if best is None:
        return None
    return DecodingConfig.from_dict({**best["settings"], "name": best["config_name"]}, where="the best-rated setting")


def default(workspace: Workspace, model: str) -> DecodingConfig:
    return best_rated(workspace, model) or next(c for c in DEFAULT_CONFIGS if c.name == FALLBACK)
