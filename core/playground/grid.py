"""A grid of samples: every model × every prompt × every decoding setting, each sample a SampleRecord with its
provenance (model, checkpoint, run, dataset, setting, seed, statistics). The Playground and `python -m core sample`
both call `generate_grid`; the Playground's "Send to ratings" is `record_grid`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from core import models
from core.errors import UserError
from core.evaluation import sample_stats
from core.playground.sampling import DecodingConfig, Sample, generate
from core.ratings.schema import SampleRecord
from core.workspace import Workspace

# name -> (tokenizer, model); name -> (what the samples were checked against, its index) or (None, None)
Loader = Callable[[str], tuple]
Memorization = Callable[[str], tuple]
# called before each (model, prompt) cell; returns the cell's on_token(row, text) or None
OnCell = Callable[[str, str], Callable[[int, str], None] | None]


@dataclass
class GridItem:
    record: SampleRecord  # what is stored and written
    sample: Sample  # the tokens and their probabilities, for the token view


@dataclass
class GridProblem:
    model: str
    error: str
    loading: bool  # True: the model could not load; False: one prompt failed


@dataclass
class GridResult:
    items: list[GridItem] = field(default_factory=list)
    problems: list[GridProblem] = field(default_factory=list)

    @property
    def records(self) -> list[SampleRecord]:
        return [item.record for item in self.items]


def training_data(workspace: Workspace) -> Memorization:
    """The default memorization check: a run's model against the dataset it was fine-tuned on."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.evaluation import memorization

    def lookup(name: str) -> tuple:
        path = models.training_dataset(name, workspace)
        return (str(path), memorization.open_index(path)) if path else (None, None)  # built once, memory-mapped

    return lookup


def generate_grid(
    model_names: list[str],
    prompts: list[str],
    configs: list[DecodingConfig],
    *,
    workspace: Workspace,
    source: str = "playground",
    load: Loader | None = None,
    memorization: Memorization | None = None,
    on_cell: OnCell | None = None,
    on_item: Callable[[GridItem], None] | None = None,
    stop: threading.Event | None = None,
    keep_top: int = 0,
) -> GridResult:
    """Sample every prompt under every setting with every model, in order: model, prompt, setting, sample.

    A model that cannot load, or a prompt it cannot continue, becomes a GridProblem and the rest goes on.
    `on_item` sees each sample as soon as its cell is done (the Playground keeps what is done across a Stop).
    """
    load = load or (lambda name: models.load(name, workspace))
    memorization = memorization or training_data(workspace)
    batch, result = uuid.uuid4().hex, GridResult()
    settings = {config.name: config.to_dict() for config in configs}
    for name in model_names:
        try:
            tokenizer, model = load(name)
            provenance = _provenance(name, workspace)
            data, index = memorization(name)
        except UserError as error:
            result.problems.append(GridProblem(name, str(error), loading=True))
            continue
        for prompt in prompts:
            if stop is not None and stop.is_set():
                return result
            on_token = on_cell(name, prompt) if on_cell else None
            try:
                samples = generate(model, tokenizer, prompt, configs, stop=stop, on_token=on_token, keep_top=keep_top)
            except UserError as error:
                result.problems.append(GridProblem(name, str(error), loading=False))
                continue
            for sample in samples:
                stats = sample_stats.stats(sample, index)
                if data is not None:
                    stats["memorization_data"] = data
                record = SampleRecord(
                    **provenance, source=source, prompt=prompt, text=sample.text, config_name=sample.config,
                    settings=settings[sample.config], seed=sample.seed, sample_index=sample.sample_index,
                    stats=stats, batch=batch,
                )
                result.items.append(GridItem(record, sample))
                if on_item:
                    on_item(result.items[-1])
    return result


def _provenance(name: str, workspace: Workspace) -> dict:
    source = models.resolve(name, workspace)
    trained_on = models.training_dataset(name, workspace)
    return {"model": name, "checkpoint": source.location, "run": name.split("/")[0] if source.kind == "run" else None,
            "dataset": trained_on.name if trained_on else None}


def record_grid(store, records: list[SampleRecord]):
    """Send samples to the ratings database ("Send to ratings"): a sample's identity is its provenance and text, so
    sending one again adds nothing. Returns the store's `Added` (ids, how many new, how many already there)."""
    return store.insert_samples(records)
