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
    *,
    prepared: list[tuple[tuple, tuple]] | None = None,
) -> tuple[list[Outcome], dict[str, int]]:
    """`remove_boilerplate_lines` (below: what the parameters mean), and each line it removed with the number of
    documents it was removed from. `prepared`: `edge_keys` of the texts, when the workers computed them."""
    if len(texts) < min_documents:
        return list(texts), {}
    if prepared is None:
        prepared = edge_keys(texts, min_line_chars=min_line_chars, max_line_chars=max_line_chars, edge_lines=edge_lines)
    counts = Counter(key for head, tail in prepared for key in {*head, *tail} if key is not None)  # one vote each
    needed = max(min_documents, min_fraction * len(texts))
    candidates = {key for key, n in counts.items() if n >= needed}
    if not any(key.startswith(_LONG) for key in candidates):
        return list(texts), {}
    out: list[Outcome] = list(texts)
    removed_from: Counter = Counter()
    for i, (head, tail) in enumerate(prepared):
        from_head, from_tail = _run_length(head, candidates), _run_length(tail, candidates)
        if not (from_head or from_tail):
            continue  # most documents: no text to look at
        lines = _content_lines(texts[i])
        runs = dict(lines[:from_head] + lines[::-1][:from_tail])  # {line number: line}
        removed_from.update(set(runs.values()))
        cleaned, removed = _drop_lines(texts[i], set(runs))
        if removed and not cleaned.strip():
            out[i] = Dropped("only_boilerplate", f"all {removed} lines are boilerplate repeated across documents",
                             {"lines": removed})
        else:
            out[i] = cleaned
    return out, dict(removed_from.most_common())


_LONG, _SHORT = b"L", b"S"


def _line_key(line: str, min_line_chars: int) -> bytes:
    """A line's identity in the counts: its 16-byte digest, after a byte that says whether it is long enough to
    make a run of lines boilerplate."""
    digest = hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return (_LONG if len(line) >= min_line_chars else _SHORT) + digest


def edge_keys(texts: list[str], min_documents: int = 3, min_fraction: float = 0.05, min_line_chars: int = 12,
              max_line_chars: int = 200, edge_lines: int = 10) -> list[tuple[tuple, tuple]]:
    """Per text, the keys (`_line_key`) of its first and of its last `edge_lines` non-blank lines, each from the
    edge inwards, None for a line that cannot be boilerplate (too long, a label): the per-document part of the
    step, which the cleaning run's workers compute (digests travel back, not lines). It takes all the step's
    parameters, as every part does (CORPUS_STEP_PARTS), and uses those about lines."""
    out = []
    for text in texts:
        lines = [line for _, line in _content_lines(text)]
        edges = lines if len(lines) <= 2 * edge_lines else lines[:edge_lines] + lines[-edge_lines:]
        keys = [_line_key(line, min_line_chars) if len(line) <= max_line_chars and not line.endswith(LABEL_ENDS)
                else None for line in edges]
        out.append((tuple(keys[:edge_lines]), tuple(keys[::-1][:edge_lines])))
    return out


def _run_length(keys: tuple, candidates: set[bytes]) -> int:
    """How many lines from an edge inwards (`keys`) are a run of candidates that holds a long line; else 0."""
    length = 0
    for key in keys:
        if key not in candidates:
            break
        length += 1
    return length if any(key.startswith(_LONG) for key in keys[:length]) else 0


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
    # str.split and re's \s know the same whitespace; split is faster. Spaces and line breaks go first, by
    # str.replace: split then makes one string, not one per word (a third of the step's time).
    return "".join(text.casefold().replace(" ", "").replace("\n", "").split())


def exact_keys(texts: list[str]) -> list[bytes]:
    """16-byte digests of the texts' normalized forms (not the texts: memory stays small on big corpora): the
    per-document part of exact dedup, which the cleaning run's workers compute."""
    return [hashlib.blake2b(normalize_for_exact(text).encode("utf-8"), digest_size=16).digest() for text in texts]


def exact_dedup(texts: list[str], *, prepared: list[bytes] | None = None) -> list[Outcome]:
    """Drop documents whose normalized text equals an earlier one's; the first occurrence is kept.
    `prepared`: `exact_keys` of the texts, when the workers computed them."""
    first_seen: dict[bytes, int] = {}
    out: list[Outcome] = []
    for i, (text, key) in enumerate(zip(texts, exact_keys(texts) if prepared is None else prepared)):
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


def minhash_rows(texts: list[str], threshold: float = 0.8, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """The texts' MinHash signatures, one row each: the per-document part of near dedup, which the cleaning run's
    workers compute (one array travels back, not a list of them)."""
    rows = permuted_minimums(texts, *permutations(num_perm, seed))
    return np.stack(rows) if rows else np.zeros((0, num_perm), dtype=np.uint32)


def near_dedup_ready(threshold: float = 0.8, num_perm: int = 128, seed: int = 1) -> None:
    """What near dedup needs besides the signatures (datasketch's band layout: importing datasketch takes half a
    second), got while the workers compute them."""
    _band_layout(threshold, num_perm)


def near_dedup(texts: list[str], threshold: float = 0.8, num_perm: int = 128, seed: int = 1, *,
               pool_map: Callable | None = None, prepared: list[np.ndarray] | None = None) -> list[Outcome]:
    """Drop documents that are at least `threshold` similar (estimated Jaccard of shingles) to an earlier kept one.

    MinHash LSH finds candidates; the estimated Jaccard against each candidate's stored signature decides.
    Documents go in order and only kept ones enter the index, so of a cluster of near copies the first stays.
    `prepared`: the texts' signatures (`minhash_rows`), when the workers computed them; else with `pool_map` (a
    process pool's map: the cleaning run's own), a large corpus is hashed on every core.
    """
    if prepared is None:
        hashed = _in_chunks(permuted_minimums, texts, pool_map, *permutations(num_perm, seed))  # started in the pool
        near_dedup_ready(threshold, num_perm)  # meanwhile
        prepared = list(hashed)
    bands, rows = _band_layout(threshold, num_perm)
    values = np.stack(prepared) if texts else np.zeros((0, num_perm), dtype=np.uint32)
    # The LSH index is datasketch's MinHashLSH (same bands: two documents are candidates when all the values
    # of one band agree), kept as plain dicts keyed by each band's values: datasketch's per-band byte keys
    # and storage layer took a tenth of the whole cleaning run, in the one process that cannot share work.
    # A document none of whose bands agrees with another document's has no candidates and is no candidate
    # (most documents of a corpus): only the others go through the index, in order.
    empty = (values == np.iinfo(np.uint32).max).all(axis=1)  # no words at all: another step's business
    involved = np.flatnonzero(_shares_a_band(values, bands, rows) & ~empty)
    keys = values[involved, : bands * rows].reshape(len(involved), bands, rows).tolist()
    index: list[dict[tuple, list[int]]] = [{} for _ in range(bands)]
    out: list[Outcome] = list(texts)
    for i, doc_keys in zip(involved.tolist(), keys):
        mine = [tuple(key) for key in doc_keys]
        candidates = sorted({j for band, key in enumerate(mine) for j in index[band].get(key, ())})
        best, best_sim = -1, -1.0
        if candidates:
            same = np.count_nonzero(values[candidates] == values[i], axis=1)
            k = int(np.argmax(same))  # the first of the most similar: the earliest document
            best, best_sim = candidates[k], float(same[k]) / num_perm
        if best_sim >= threshold:
            sim = round(best_sim, 2)
            out[i] = Dropped("near_duplicate", f"{sim:.0%} similar to document #{best}", {"of": best, "similarity": sim})
        else:
            for band, key in enumerate(mine):
                index[band].setdefault(key, []).append(i)
    return out


def _shares_a_band(values: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Per document, whether one of its bands may agree with the same band of another document: a 64-bit
    fingerprint of each band is compared (two equal bands always have equal fingerprints; a rare collision only
    sends a document through the index for nothing)."""
    shared = np.zeros(len(values), dtype=bool)
    for band in range(bands):
        fingerprint = np.zeros(len(values), dtype=np.uint64)
        for column in values[:, band * rows : (band + 1) * rows].T.astype(np.uint64):
            fingerprint = fingerprint * np.uint64(0x100000001B3) + column
        _, inverse, counts = np.unique(fingerprint, return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
    return shared


@cache
def _band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's choice of bands and rows. Every LSH candidate is checked against its signature, so a false
    positive costs one comparison while a false negative keeps a duplicate: the layout is weighted against
    misses (at threshold 0.8: 14 bands of 9 rows, missing a 93%-similar pair about 1 time in 30,000 instead of
    1 in 85)."""
    from datasketch import MinHashLSH  # here: the pool's workers import this module and need no scipy

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
    return lsh.b, lsh.r


# The per-document part of a corpus step (`part(texts, **params)`, one item per text), which the cleaning run's
# workers compute at the end of the per-document steps before it, so that this process only does what needs every
# document at once; the step takes the items as `prepared`.
CORPUS_STEP_PARTS = {"exact_dedup": exact_keys, "remove_boilerplate_lines": edge_keys, "near_dedup": minhash_rows}
# What a corpus step needs ready besides its parts, got while the workers compute them.
CORPUS_STEP_READY = {"near_dedup": near_dedup_ready}
# Corpus steps that only drop documents: the ones after them see the texts they saw.
DROPPING_CORPUS_STEPS = {"exact_dedup", "near_dedup"}
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
