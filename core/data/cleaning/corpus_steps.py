"""Corpus-level cleaning steps: they need to see every document at once (boilerplate lines, duplicates).

Each step is `step(texts, **params) -> list[str | Dropped]`, one outcome per input text, in input order.
Documents are named by their 0-based position in `texts` ("document #3" is `texts[3]`), in messages and values.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from itertools import chain

import numpy as np

from core.data.cleaning.minhash import permutations, permuted_minimums
from core.data.cleaning.outcome import Dropped, Outcome
from core.data.cleaning.steps import LABEL_ENDS

_WHITESPACE = re.compile(r"\s+")
# With the cleaning run's process pool, near dedup hands the order-free part of its work (hashing) to the pool in
# chunks of documents, from this many documents on (fewer are not worth shipping).
PARALLEL_MIN_DOCS = 5_000
PARALLEL_CHUNK_DOCS = 2_000


# ---------------------------------------------------------------- boilerplate lines

def boilerplate_removal(
    texts: list[str],
    min_documents: int = 3,
    min_fraction: float = 0.05,
    min_line_chars: int = 12,
    max_line_chars: int = 200,
    edge_lines: int = 10,
) -> tuple[list[Outcome], dict[str, int]]:
    """`remove_boilerplate_lines` (below: what the parameters mean), and each line it removed with the number of
    documents it was removed from."""
    if len(texts) < min_documents:
        return list(texts), {}
    counts = Counter(line for text in texts for line in _edge_candidates(text, edge_lines, max_line_chars))
    needed = max(min_documents, min_fraction * len(texts))
    candidates = {line for line, n in counts.items() if n >= needed}
    if not any(len(line) >= min_line_chars for line in candidates):
        return list(texts), {}
    out: list[Outcome] = []
    removed_from: Counter = Counter()
    for text in texts:
        runs = _edge_runs(text, candidates, edge_lines, min_line_chars)
        removed_from.update(set(runs.values()))
        cleaned, removed = _drop_lines(text, set(runs))
        if removed and not cleaned.strip():
            out.append(Dropped("only_boilerplate", f"all {removed} lines are boilerplate repeated across documents",
                               {"lines": removed}))
        else:
            out.append(cleaned)
    return out, dict(removed_from.most_common())


# The step's parameters, which the recipe reads from its signature, are declared once: on `boilerplate_removal`
# (`inspect.signature` follows `__wrapped__`).
@functools.wraps(boilerplate_removal, assigned=())
def remove_boilerplate_lines(texts: list[str], **params) -> list[Outcome]:
    """Remove the header and footer runs of boilerplate lines ("Share this article", "版权所有 © 2026 …").

    Boilerplate is what a site or an archive puts around every text. A line is a candidate when it is found among
    the first or last `edge_lines` non-blank lines of at least `min_documents` documents and of at least
    `min_fraction` of all of them (documents are counted, not occurrences: a refrain repeated inside one poem is
    not boilerplate), is at most `max_line_chars` long and does not end in a colon. From each edge of a document,
    the run of consecutive candidates (blank lines in between do not break it) goes, provided it holds a line of
    at least `min_line_chars`: alone, a short repeated line is as likely a title ("浣溪沙", "相和歌辭：王昭君") as a
    header. Nothing inside the body is touched.
    """
    return boilerplate_removal(texts, **params)[0]


def _content_lines(text: str) -> list[tuple[int, str]]:
    """(line number, stripped line) of each non-blank line."""
    return [(i, line) for i, line in enumerate(map(str.strip, text.splitlines())) if line]


def _edge_candidates(text: str, edge_lines: int, max_line_chars: int) -> set[str]:
    """The distinct lines near either edge of a text that could be boilerplate: one vote per document."""
    lines = [line for _, line in _content_lines(text)]
    edges = lines if len(lines) <= 2 * edge_lines else lines[:edge_lines] + lines[-edge_lines:]
    return {line for line in edges if len(line) <= max_line_chars and not line.endswith(LABEL_ENDS)}


def _edge_runs(text: str, candidates: set[str], edge_lines: int, min_line_chars: int) -> dict[int, str]:
    """{line number: line} of the leading and trailing runs of candidate lines that hold at least one long line."""
    lines = _content_lines(text)
    drop: dict[int, str] = {}
    for ordered in (lines[:edge_lines], lines[::-1][:edge_lines]):
        run = []
        for number, line in ordered:
            if line not in candidates:
                break
            run.append((number, line))
        if any(len(line) >= min_line_chars for _, line in run):
            drop.update(run)
    return drop


def _drop_lines(text: str, numbers: set[int]) -> tuple[str, int]:
    """The text without the lines at these line numbers, and how many lines went.

    The text is seen as runs of blank lines between content lines. Removing a content line joins the blank
    runs around it; the joined run keeps the length of the longer one, so a removed line leaves the paragraph
    break that was there, not a pile of blank lines. An untouched document comes back byte for byte.
    """
    if not numbers:
        return text, 0
    lines = text.splitlines(keepends=True)
    segments: list[list[str]] = []  # each: [line] for a content line, or the lines of a blank run
    blank: list[bool] = []  # whether segments[i] is a blank run
    removed = 0
    after_removal = False  # a blank line right after a removed one starts a new run (merged below)
    for number, line in enumerate(lines):
        stripped = line.strip()
        if number in numbers:
            removed += 1
            after_removal = True
            continue
        if not stripped and blank and blank[-1] and not after_removal:
            segments[-1].append(line)
        else:
            segments.append([line])
            blank.append(not stripped)
        after_removal = False

    merged: list[list[str]] = []
    merged_blank: list[bool] = []
    for seg, is_blank in zip(segments, blank):
        if is_blank and merged_blank and merged_blank[-1]:
            if len(seg) > len(merged[-1]):
                merged[-1] = seg
        else:
            merged.append(seg)
            merged_blank.append(is_blank)
    # A blank run now at an edge of the document stood between a removed line and the rest: it goes too,
    # unless the document began (ended) with blank lines to start with.
    if merged_blank and merged_blank[0] and lines[0].strip():
        merged.pop(0)
        merged_blank.pop(0)
    if merged_blank and merged_blank[-1] and lines[-1].strip():
        merged.pop()
        merged_blank.pop()
    result = "".join(line for seg in merged for line in seg)
    if not text.endswith(("\n", "\r")):
        result = result.rstrip("\r\n")  # the last kept line had its newline only because a removed line followed
    return result, removed


# ---------------------------------------------------------------- exact duplicates


def normalize_for_exact(text: str) -> str:
    """Casefold and delete ALL whitespace.

    Deleting whitespace (rather than collapsing it to one space) also catches CJK text where line wrapping
    or PDF extraction put spaces between characters. Two different documents that differ only in where
    their spaces fall do not occur in real prose, so the looser key costs nothing.
    """
    return "".join(text.casefold().split())  # str.split and re's \s know the same whitespace; split is faster


def exact_dedup(texts: list[str]) -> list[Outcome]:
    """Drop documents whose normalized text equals an earlier one's; the first occurrence is kept."""
    first_seen: dict[bytes, int] = {}  # 16-byte digests, not the texts: memory stays small on big corpora
    out: list[Outcome] = []
    for i, text in enumerate(texts):
        key = hashlib.blake2b(normalize_for_exact(text).encode("utf-8"), digest_size=16).digest()
        original = first_seen.setdefault(key, i)
        if original == i:
            out.append(text)
        else:
            out.append(Dropped("exact_duplicate", f"same text as document #{original}", {"of": original}))
    return out


# ---------------------------------------------------------------- near duplicates


def _in_chunks(function, texts: list[str], pool_map: Callable | None, *arguments) -> Iterator:
    """function(chunk, *arguments) over chunks of the texts, in the pool for a large corpus (handed to it at
    once), else here; its results in document order, one by one."""
    chunks = [texts[i : i + PARALLEL_CHUNK_DOCS] for i in range(0, len(texts), PARALLEL_CHUNK_DOCS)]
    if pool_map is None or len(texts) < PARALLEL_MIN_DOCS:
        pool_map = map
    return chain.from_iterable(pool_map(function, chunks, *([argument] * len(chunks) for argument in arguments)))


def near_dedup(texts: list[str], threshold: float = 0.8, num_perm: int = 128, seed: int = 1, *,
               pool_map: Callable | None = None) -> list[Outcome]:
    """Drop documents that are at least `threshold` similar (estimated Jaccard of shingles) to an earlier kept one.

    MinHash LSH finds candidates; the estimated Jaccard against each candidate's stored signature decides.
    Documents go in order and only kept ones enter the index, so of a cluster of near copies the first stays.
    With `pool_map` (a process pool's map: the cleaning run's own), a large corpus is hashed on every core.
    """
    hashed = _in_chunks(permuted_minimums, texts, pool_map, *permutations(num_perm, seed))  # started in the pool
    bands, rows = _band_layout(threshold, num_perm)  # meanwhile (importing datasketch takes half a second)
    values = np.stack(list(hashed)) if texts else np.zeros((0, num_perm), dtype=np.uint32)
    # The LSH index is datasketch's MinHashLSH (same bands: two documents are candidates when all the values
    # of one band agree), kept as plain dicts keyed by each band's values: datasketch's per-band byte keys
    # and storage layer took a tenth of the whole cleaning run, in the one process that cannot share work.
    keys = values[:, : bands * rows].reshape(len(texts) * bands, rows).tolist()
    index: list[dict[tuple, list[int]]] = [{} for _ in range(bands)]
    empty = (values == np.iinfo(np.uint32).max).all(axis=1)  # no words at all: another step's business
    out: list[Outcome] = []
    for i, text in enumerate(texts):
        if empty[i]:
            out.append(text)
            continue
        mine = [tuple(keys[i * bands + band]) for band in range(bands)]
        candidates = sorted({j for band, key in enumerate(mine) for j in index[band].get(key, ())})
        best, best_sim = -1, -1.0
        if candidates:
            same = np.count_nonzero(values[candidates] == values[i], axis=1)
            k = int(np.argmax(same))  # the first of the most similar: the earliest document
            best, best_sim = candidates[k], float(same[k]) / num_perm
        if best_sim >= threshold:
            sim = round(best_sim, 2)
            out.append(Dropped("near_duplicate", f"{sim:.0%} similar to document #{best}", {"of": best, "similarity": sim}))
        else:
            for band, key in enumerate(mine):
                index[band].setdefault(key, []).append(i)
            out.append(text)
    return out


@cache
def _band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's choice of bands and rows. Every LSH candidate is checked against its signature, so a false
    positive costs one comparison while a false negative keeps a duplicate: the layout is weighted against
    misses (at threshold 0.8: 14 bands of 9 rows, missing a 93%-similar pair about 1 time in 30,000 instead of
    1 in 85)."""
    from datasketch import MinHashLSH  # here: the pool's workers import this module and need no scipy

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
    return lsh.b, lsh.r


# Corpus steps that also say what they removed: the pipeline calls these instead, for the report and the preview.
CORPUS_STEP_REPORTS = {"remove_boilerplate_lines": boilerplate_removal}
# Corpus steps that take the run's process pool (keyword `pool_map`) for the part of their work that needs no order.
# (Exact dedup and boilerplate lines are not: shipping the corpus to the workers and back cost more than their
# work, 9.4 s against 14.1 s for 50 MB with both cores.)
PARALLEL_CORPUS_STEPS = {"near_dedup"}

CORPUS_STEP_FUNCTIONS = {
    "remove_boilerplate_lines": remove_boilerplate_lines,
    "exact_dedup": exact_dedup,
    "near_dedup": near_dedup,
}
