"""The pairs a preference-tuning run learns from: where they come from (a file, or the lab database now), and the
check that they were written by a model that tokenizes as the tuned one does."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from core import models
from core.errors import UserError
from core.ratings import pairs as preference_pairs
from core.train.config import PREFERENCE_METHODS, TrainConfig
from core.workspace import Workspace

FROM_RATINGS = "ratings"  # --pairs ratings: the lab database's pairs, written to a file as the run is created


def settle(workspace: Workspace, config: TrainConfig, **filters) -> TrainConfig:
    """The configuration with `pairs` as an absolute file: 'ratings' becomes a file of the lab database's pairs now
    (filtered by rater, model, criterion, source, since, until), so the run keeps what it was tuned on."""
    if config.method not in PREFERENCE_METHODS or not config.pairs:
        return config
    if config.pairs != FROM_RATINGS:
        return replace(config, pairs=str(Path(config.pairs).expanduser().resolve()))
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.ratings.store import open_store

    with open_store() as store:
        found = preference_pairs.lab_pairs(store)
    kept = preference_pairs.filtered(found, **filters)
    if not kept:
        raise UserError.coded("no_preference_pairs")
    path = workspace.root / "pairs" / f"ratings-{datetime.now():%Y%m%d-%H%M%S-%f}.jsonl"
    preference_pairs.write(kept, path)
    return replace(config, pairs=str(path))


def load(workspace: Workspace, config: TrainConfig) -> list[preference_pairs.Pair]:
    """The run's pairs, refused (one UserError) when there are none or another tokenizer's model wrote them."""
    pairs = preference_pairs.read(config.pairs)
    check_tokenizers(workspace, pairs, config.model)
    return pairs


def check_tokenizers(workspace: Workspace, pairs, model: str) -> None:
    """Pairs sampled from a model with another tokenizer are text the tuned model would never write: DPO on them
    teaches little and measures nothing. Models that cannot be found here (a hub model not cached) are not checked."""
    tuned = models.load_tokenizer(model, workspace).get_vocab()
    names = {name for pair in pairs for name in (pair.chosen_model, pair.rejected_model) if name}
    for name in sorted(names):
        try:
            vocab = models.load_tokenizer(name, workspace).get_vocab()
        except (UserError, OSError, ValueError):
            continue  # not here to compare: the pairs stay usable
        if vocab != tuned:
            raise UserError.coded("pairs_tokenizer_differs", name=name, model=model)


def choices(workspace: Workspace) -> list[str]:
    """What the Train page offers as preference data: the lab database's pairs now, then the pairs files written
    before (newest first)."""
    folder = workspace.root / "pairs"
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return [FROM_RATINGS, *map(str, files)]


def ratings_counts() -> dict[str, int]:
    """Pairs per source that the lab database gives now (what 'from ratings' would tune on)."""
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.ratings.store import open_store

    with open_store() as store:
        return preference_pairs.counts(preference_pairs.lab_pairs(store))
