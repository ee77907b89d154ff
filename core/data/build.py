"""Build a dataset: clean loaded documents with a recipe, report what each step did, save train/validation.

The one sequence behind `python -m core clean` and the Data page's Save button, so both make the same dataset
from the same documents and recipe."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.data import dataset
from core.data.cleaning import losses
from core.data.cleaning.pipeline import CleanResult, Progress, clean
from core.data.cleaning.recipe import Recipe
from core.data.loading import Document, FileReport
from core.errors import UserError


class Lost(UserError):
    """The recipe dropped much (see `losses.LossReport.serious`): not saved unless accepted; the message names the
    steps, rules and remedies, and `result` holds the per-step table."""

    def __init__(self, lost: losses.LossReport, result: CleanResult):
        first, *rest = lost.messages()
        super().__init__(f"{first}: {'; '.join(rest)}" if rest else first)
        self.lost, self.result = lost, result


class NothingLeft(Lost):
    """The recipe dropped every document: there is nothing to save, accepted or not."""


@dataclass
class BuildSummary:
    result: CleanResult  # what each step did
    saved: dict  # dataset.save's summary: documents per split and how they were split
    seconds: float
    lost: losses.LossReport  # what was lost (accepted, when serious)


def default_workers() -> int:
    """Processes for the per-document steps: two where there are, as the machine running a page shares its cores."""
    return min(2, os.cpu_count() or 1)


def build_dataset(documents: Sequence[Document], files: list[FileReport], recipe: Recipe, out: Path, *,
                  ratio: float = 0.1, seed: int = 0, overwrite: bool = False, workers: int | None = None,
                  on_progress: Progress | None = None, accept_losses: bool = True) -> BuildSummary:
    """Raises NothingLeft when nothing is left, and Lost for a serious loss (all of a file, most of the text)
    unless `accept_losses`: the Data page asks first, the command line warns."""
    dataset.check_writable(Path(out), overwrite)  # refused before the cleaning, not after it
    if not documents:
        raise UserError.coded("no_documents_read")
    started = time.perf_counter()
    texts, sources = [d.text for d in documents], [d.source for d in documents]
    result = clean(recipe, texts, sources, workers=workers or default_workers(), progress=on_progress)
    lost = losses.report(result, recipe, [len(t) for t in texts], sources, [f.name for f in files])
    if lost.nothing_left:
        raise NothingLeft(lost, result)
    if lost.serious and not accept_losses:
        raise Lost(lost, result)
    report = {**result.report(), "files": [f.summary() for f in files]}
    saved = dataset.save(Path(out), result.texts, recipe=recipe.to_dict(), report=report, ratio=ratio, seed=seed,
                         overwrite=overwrite)
    return BuildSummary(result, saved, time.perf_counter() - started, lost)
