"""A run's checkpoint gallery (samples.jsonl) into the ratings store, so its samples can be rated like the
Playground's. On the train side: it reads the run folder and the gallery's decoding settings, and the ratings
store below it only stores."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.playground.presets import gallery_decoding
from core.ratings.schema import SampleRecord
from core.ratings.store import Store
from core.train.run_dir import RunDir


def import_gallery(store: Store, run_dir: Path) -> int:
    """Each gallery sample tied to its checkpoint and settings; returns how many were added."""
    run = RunDir(run_dir)
    config = run.config()
    settings = gallery_decoding(config.gallery_max_new_tokens, config.gallery_seed).to_dict()  # what the worker sampled with
    records = [
        SampleRecord(
            model=f"{run.id}/{run.checkpoint(line['step']).name}" if line["step"] else config.model,
            checkpoint=run.checkpoint(line["step"]).name if line["step"] else config.model,
            run=run.id, dataset=config.dataset, source="gallery",
            prompt=line["prompt"], text=line["text"], seed=line.get("seed"),
            config_name=f"gallery step {line['step']}", settings=settings,
        )
        for line in run.samples().records
    ]
    if not records:
        raise UserError.coded("gallery_empty", run=run.id)
    store.add_samples(records)
    return len(records)
