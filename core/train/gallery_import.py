"""A run's checkpoint gallery (samples.jsonl) into the ratings store, so its samples can be rated like the
Playground's. On the train side: the trainer writes the gallery as sample records (core.train.gallery), and the
ratings store below it only stores them."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.ratings.store import Store
from core.train import gallery
from core.train.run_dir import RunDir


def import_gallery(store: Store, run_dir: Path) -> int:
    """Each gallery sample, with the checkpoint and settings it was drawn with; returns how many were added."""
    records = gallery.read(run_dir).records
    if not records:
        raise UserError.coded("gallery_empty", run=RunDir(run_dir).id)
    store.add_samples(records)
    return len(records)
