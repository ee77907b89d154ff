"""Running a recipe over documents: per-step counts (documents, characters, tokens), and for the preview, a trace
of which step changed or dropped each document and why.

Per-document steps run in worker processes when asked (the full run uses both cores); corpus steps (boilerplate
lines, dedup) need every document at once and run in this process, on what the workers computed for each document
at the end of the per-document steps before them (digests, signatures: corpus_steps.CORPUS_STEP_PARTS).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cache
from multiprocessing import get_context

from core.data import tiktoken_bpe
from core.data.cleaning.corpus_steps import (
    CORPUS_STEP_PARTS,
    CORPUS_STEP_READY,
    CORPUS_STEP_REPORTS,
    DROPPING_CORPUS_STEPS,
    PARALLEL_CORPUS_STEPS,
)
from core.data.cleaning.outcome import Dropped
from core.data.cleaning.recipe import Recipe, StepConfig, is_corpus_step, step_function
from core.data.cleaning.steps import BATCH_FUNCTIONS

CHUNK_CHARS = 2_000_000  # work handed to one worker at a time: big enough to amortise pickling
# A run that fills more than one chunk is cut into at least this many chunks per worker, so that no worker idles
# while another finishes a big last chunk (the bench's 5 M characters of sample pages made chunks of 2, 2 and 1 M:
# one worker did 3 M while the other waited).
CHUNKS_PER_WORKER = 4
PREVIEW_DOCS = 200  # documents the preview cleans
PREVIEW_CHARS = 8_000  # of each, so the preview answers quickly however large a document is


@dataclass
class StepReport:
    name: str
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    changed: int = 0  # documents whose text the step changed (kept ones only)
    dropped: dict = field(default_factory=dict)  # reason code -> documents dropped for it
    removed_lines: dict = field(default_factory=dict)  # boilerplate: each line removed -> documents it left
    tokens_in: int | None = None  # with a tokenizer only
    tokens_out: int | None = None

    def add(self, other: StepReport) -> None:
        for name in ("docs_in", "docs_out", "chars_in", "chars_out", "changed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dropped = dict(Counter(self.dropped) + Counter(other.dropped))


@dataclass
class Event:
    """One step's effect on one document: a change (before, after) or a drop (before, dropped)."""

    step: str
    before: str
    after: str | None = None
    dropped: Dropped | None = None


@dataclass
class CleanResult:
    texts: list[str]  # the surviving documents, cleaned
    sources: list[str]  # where each surviving document came from
    steps: list[StepReport]
    docs_in: int
    chars_in: int
    kept: list[int]  # input index of each surviving document
    dropped: dict[int, str] = field(default_factory=dict)  # input index -> reason code, for each dropped document
    traces: list[list[Event]] | None = None  # per input document, with track=True
    sample_sources: list[str] | None = None  # per input document, with track=True

    @property
    def chars_out(self) -> int:
        return sum(len(t) for t in self.texts)

    def report(self) -> dict:
        """What report.json holds."""
        return {
            "docs_in": self.docs_in,
            "docs_out": len(self.texts),
            "chars_in": self.chars_in,
            "chars_out": self.chars_out,
            "steps": [asdict(step) for step in self.steps],
        }


Progress = Callable[[float, str], None]


def clean(
    recipe: Recipe,
    texts: list[str],
    sources: list[str] | None = None,
    *,
    tokenizer=None,
    track: bool = False,
    workers: int = 1,
    progress: Progress | None = None,
) -> CleanResult:
    recipe.check()
    sources = sources or [f"#{i}" for i in range(len(texts))]
    current: list[str | None] = list(texts)  # None once dropped
    traces = [[] for _ in texts] if track else None
    token_counts = _TokenCounter(tokenizer) if tokenizer is not None else None
    stages = _stages(recipe.enabled_steps())
    detail = track or token_counts is not None  # keep every step's (before, outcome) pairs
    dropped: dict[int, str] = {}
    with _Workers(workers if len(texts) > 1 else 1) as pool:
        reports = _run_stages(stages, current, sources, pool, detail, token_counts, traces, progress, dropped)
    kept = [i for i, text in enumerate(current) if text is not None]
    return CleanResult(
        texts=[current[i] for i in kept],
        sources=[sources[i] for i in kept],
        steps=reports,
        docs_in=len(texts),
        chars_in=sum(len(t) for t in texts),
        kept=kept,
        dropped=dropped,
        traces=traces,
        sample_sources=list(sources) if track else None,
    )


def _run_stages(stages, current, sources, pool, detail, token_counts, traces, progress, dropped) -> list[StepReport]:
    """Run each stage over the documents still alive, updating `current`, `dropped` (and `traces`) in place."""
    reports: list[StepReport] = []
    parts: dict[str, list] = {}  # corpus step -> its part of each document (by input index), from the workers
    for number, stage in enumerate(stages):
        alive = [i for i, text in enumerate(current) if text is not None]
        before = [current[i] for i in alive]
        if is_corpus_step(stage[0].name):
            step = stage[0]
            part = parts.pop(step.name, None)
            results, removed_lines = _run_corpus_step(step, before, pool, part and [part[i] for i in alive])
            results = _name_originals(results, [sources[i] for i in alive])
            stage_reports = [_report(step.name, before, results)]
            stage_reports[0].removed_lines = removed_lines
            per_step = [list(zip(before, results))]
        else:
            ahead = _parts_ahead(stages[number + 1 :])
            # What every later corpus step needs besides its parts (datasketch's band layout: a 0.4 s import) is got
            # while the first workers start and work: the first time, this process has nothing else to do.
            ready = [(step.name, step.arguments()) for later in stages[number + 1 :] for step in later
                     if step.name in CORPUS_STEP_READY]
            results, stage_reports, per_step, stage_parts = _run_map_stage(stage, before, pool, detail, progress,
                                                                           number, len(stages), ahead, ready)
            for name, items in stage_parts.items():
                parts[name] = [None] * len(current)
                for index, item in zip(alive, items):
                    parts[name][index] = item
        for index, outcome in zip(alive, results):
            if isinstance(outcome, Dropped):
                current[index], dropped[index] = None, outcome.code
            else:
                current[index] = outcome
        if token_counts is not None:
            _count_tokens(stage_reports, per_step, token_counts)
        if traces is not None:
            for step, pairs in zip(stage, per_step):
                for index, (step_before, outcome) in zip(alive, pairs):
                    if isinstance(outcome, Dropped):
                        traces[index].append(Event(step.name, step_before, dropped=outcome))
                    elif outcome is not None and outcome != step_before:
                        traces[index].append(Event(step.name, step_before, after=outcome))
        reports.extend(stage_reports)
        if progress:
            progress((number + 1) / len(stages), stage[-1].name)
    return reports


def preview(recipe: Recipe, texts: list[str], sources: list[str] | None = None, *, tokenizer=None, seed: int = 0,
            sample_size: int = PREVIEW_DOCS) -> tuple[CleanResult, list[int]]:
    """Clean a sample (the first part of each sampled document) with a full trace; returns it and the sampled indices.

    Corpus steps then see the sample only, so dedup counts are what the sample shows, not the corpus.
    """
    indices = sorted(random.Random(seed).sample(range(len(texts)), min(sample_size, len(texts))))
    # A loaded corpus's texts (core.data.documents) offer head(): the start of a long document, decoding no more
    head = getattr(texts, "head", None) or (lambda i, chars: texts[i][:chars])
    sample = [head(i, PREVIEW_CHARS) for i in indices]
    sample_sources = [sources[i] for i in indices] if sources else [f"#{i}" for i in indices]
    return clean(recipe, sample, sample_sources, tokenizer=tokenizer, track=True), indices


def _run_corpus_step(step: StepConfig, texts: list[str], pool: _Workers, part: list | None) -> tuple[list, dict]:
    """A corpus step's outcomes, and what it says it removed (boilerplate lines) when it says so. `part`: its
    part of each text, when the workers computed it; else a step that can spread its work gets the run's pool:
    one pool per run, started once."""
    reporting = CORPUS_STEP_REPORTS.get(step.name)
    function = reporting or step_function(step.name)
    if part is not None:
        extra = {"prepared": part}
    else:
        extra = {"pool_map": pool.map} if step.name in PARALLEL_CORPUS_STEPS and pool.workers > 1 else {}
    result = function(texts, **step.arguments(), **extra)
    return result if reporting is not None else (result, {})


def _name_originals(outcomes: list, names: list[str]) -> list:
    """Dedup steps say "duplicate of document #3", counted among their own inputs; name the source instead."""
    named = []
    for outcome in outcomes:
        if isinstance(outcome, Dropped) and isinstance(outcome.values.get("of"), int):
            of = outcome.values["of"]
            outcome = Dropped(outcome.code, outcome.message.replace(f"document #{of}", names[of]),
                              {**outcome.values, "of": names[of]})
        named.append(outcome)
    return named


def _parts_ahead(stages: list[list[StepConfig]]) -> list[tuple[str, dict]]:
    """The corpus steps right after a stage of per-document steps whose parts its workers can compute: the next
    one, and the one after it as long as those between only drop documents (and so leave the texts as they are)."""
    ahead = []
    for stage in stages:
        name = stage[0].name
        if not is_corpus_step(name):
            break
        if name in CORPUS_STEP_PARTS:
            ahead.append((name, stage[0].arguments()))
        if name not in DROPPING_CORPUS_STEPS:
            break
    return ahead


def _stages(steps: list[StepConfig]) -> list[list[StepConfig]]:
    """Consecutive per-document steps run together in one pass; each corpus step is a stage of its own."""
    stages: list[list[StepConfig]] = []
    for step in steps:
        if is_corpus_step(step.name) or not stages or is_corpus_step(stages[-1][0].name):
            stages.append([step])
        else:
            stages[-1].append(step)
    return stages


# What a worker needs, imported once by multiprocessing's fork server; each worker is forked from it. A spawned
# worker imported all of it again, about 0.4 CPU s per worker and run: on 5 MB of real pages, 5.7 -> 7.9 MB/s.
# Not a plain fork of the caller: the Streamlit server that calls this has threads.
WORKER_MODULES = ["core.data.cleaning.pipeline", "core.data.cleaning.extraction", "lxml.etree", "selectolax.lexbor",
                  "ftfy", "ftfy.badness", "opencc", "langid.langid"]


@cache
def _worker_context():
    context = get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    return context


class _Workers:
    """A process pool started on first use and shared by every stage of one run (starting one costs a second)."""

    def __init__(self, workers: int):
        self.workers, self.pool = workers, None

    def map(self, function, *iterables):
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_worker_context())
        return self.pool.map(function, *iterables)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _run_map_stage(stage, texts, pool: _Workers, detail, progress, number, total, ahead=(), ready=()):
    """Final outcome per document, a report per step, with `detail` each step's (before, outcome) pairs
    (None, None once an earlier step of the stage dropped the document), and the parts of the corpus steps
    `ahead` ({step: one item per document, None for a dropped one}). The corpus steps `ready` get what they need
    (CORPUS_STEP_READY) while the workers work."""
    plan = [(step.name, step.arguments()) for step in stage]
    chunks = _chunks(texts, CHUNKS_PER_WORKER * pool.workers if pool.workers > 1 else 1, pool.workers)
    if pool.workers > 1 and len(chunks) > 1:
        n = len(chunks)
        done_chunks = pool.map(_map_chunk_sent, [plan] * n, chunks, [detail] * n, [ahead] * n)
        for name, arguments in ready:  # while the workers work
            CORPUS_STEP_READY[name](**arguments)
        parts = []
        for done, (chunk, (finals, *rest)) in enumerate(zip(chunks, done_chunks), 1):
            parts.append(([text if outcome is None else outcome for text, outcome in zip(chunk, finals)], *rest))
            if progress:
                progress((number + done / n) / total, stage[-1].name)
    else:
        parts = [_map_chunk(plan, chunk, detail, ahead) for chunk in chunks]
    results = [outcome for finals, _, _, _ in parts for outcome in finals]
    reports = [StepReport(name) for name, _ in plan]
    for _, part_reports, _, _ in parts:
        for report, part_report in zip(reports, part_reports):
            report.add(part_report)
    per_step = [[pair for _, _, pairs, _ in parts for pair in pairs[s]] for s in range(len(plan))] if detail else None
    ahead_parts = {}
    for k, (name, _) in enumerate(ahead):
        ahead_parts[name] = items = []
        for finals, _, _, chunk_parts in parts:
            found = iter(chunk_parts[k])
            items += [None if isinstance(outcome, Dropped) else next(found) for outcome in finals]
    return results, reports, per_step, ahead_parts


def _map_chunk_sent(plan: list[tuple[str, dict]], texts: list[str], detail: bool, ahead=()):
    """`_map_chunk` in a worker: a text that the steps left as it was goes back as None, not as its characters
    (the first stage leaves most texts as they are: they need no second trip through the pipes)."""
    finals, *rest = _map_chunk(plan, texts, detail, ahead)
    return ([None if outcome is text else outcome for text, outcome in zip(texts, finals)], *rest)


def _map_chunk(plan: list[tuple[str, dict]], texts: list[str], detail: bool, ahead=()):
    """Run consecutive per-document steps over a chunk (in a worker process when parallel), one step over all
    its documents at a time, so that a step with a batch form (BATCH_FUNCTIONS) counts over the whole chunk;
    then the parts of the corpus steps `ahead` (name, arguments) of the surviving documents."""
    reports = [StepReport(name) for name, _ in plan]
    per_step = [[] for _ in plan] if detail else None
    finals: list = list(texts)
    for s, (name, arguments) in enumerate(plan):
        live = [i for i, outcome in enumerate(finals) if not isinstance(outcome, Dropped)]
        before = [finals[i] for i in live]
        batch = BATCH_FUNCTIONS.get(name)
        if batch is not None:
            outcomes = batch(before, **arguments)
        else:
            function = step_function(name)
            outcomes = [function(text, **arguments) for text in before]
        for i, text, outcome in zip(live, before, outcomes):
            _tally(reports[s], text, outcome)
            finals[i] = outcome
        if detail:
            pairs = [(None, None)] * len(texts)
            for i, text, outcome in zip(live, before, outcomes):
                pairs[i] = (text, outcome)
            per_step[s] = pairs
    live = [text for text in finals if not isinstance(text, Dropped)]
    parts = [CORPUS_STEP_PARTS[name](live, **arguments) for name, arguments in ahead]
    return finals, reports, per_step, parts


def _tally(report: StepReport, before: str, outcome) -> None:
    report.docs_in += 1
    report.chars_in += len(before)
    if isinstance(outcome, Dropped):
        report.dropped[outcome.code] = report.dropped.get(outcome.code, 0) + 1
    else:
        report.docs_out += 1
        report.chars_out += len(outcome)
        report.changed += outcome is not before and outcome != before


def _chunks(texts: list[str], parts: int = 1, workers: int = 1) -> list[list[str]]:
    """Consecutive texts in chunks of about equal size, at most about CHUNK_CHARS characters each; texts that fill
    more than one chunk make at least `parts` chunks (fewer when there are fewer texts), as many as a multiple of
    `workers`: the bench's 34 M characters made 17 chunks, and one worker did the last one alone, twice a run."""
    total = sum(map(len, texts))
    if total <= CHUNK_CHARS:
        return [list(texts)] if texts else []
    count = max(parts, -(-total // CHUNK_CHARS))
    count = -(-count // workers) * workers
    chunks, chunk, size = [], [], 0
    for text in texts:
        chunk.append(text)
        size += len(text)
        if size * count >= total * (len(chunks) + 1):  # this chunk reaches its share of the total
            chunks.append(chunk)
            chunk = []
    return chunks + [chunk] if chunk else chunks


def _report(name: str, before: list[str], outcomes: list) -> StepReport:
    report = StepReport(name)
    for text, outcome in zip(before, outcomes):
        _tally(report, text, outcome)
    return report


class _TokenCounter:
    """Token counts per text, remembered: most steps leave most documents as they were."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.known: dict[str, int] = {}
        # The tokenizer's tiktoken twin counts about 3x faster, and the preview counts again on every change.
        self.twin = tiktoken_bpe.twin(tokenizer) if hasattr(tokenizer, "backend_tokenizer") else None

    def total(self, texts: list[str]) -> int:
        missing = list({t for t in texts if t not in self.known})
        if missing:
            if self.twin:
                ids = self.twin.encoding.encode_batch(missing, allowed_special={self.twin.eos})
            else:
                ids = self.tokenizer(missing, add_special_tokens=False, verbose=False)["input_ids"]
            self.known.update(zip(missing, map(len, ids)))
        return sum(self.known[t] for t in texts)


def _count_tokens(reports: list[StepReport], per_step, counter: _TokenCounter) -> None:
    for report, pairs in zip(reports, per_step):
        live = [(b, o) for b, o in pairs if b is not None]
        report.tokens_in = counter.total([b for b, _ in live])
        report.tokens_out = counter.total([o for _, o in live if not isinstance(o, Dropped)])
