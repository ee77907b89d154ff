"""What each sample is: length, diversity, repetition, likelihood under the model, and overlap with the training data.

Units: words (runs of letters/digits, each punctuation mark on its own) for most text; characters for Chinese text,
which has no spaces between words. distinct-n = distinct n-grams / all n-grams (Li et al., 2016).
repetition_rate = the share of 4-grams that repeat an earlier 4-gram (1 - distinct-4): a phrase said again.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.hanzi import han_chars

if TYPE_CHECKING:
    from core.sampling import Sample

REPETITION_N = 4
MEMORIZATION_THRESHOLD = 50  # characters
_WORDS = re.compile(r"\w+|[^\w\s]")


def is_chinese(text: str) -> bool:
    """True when at least a third of the non-space characters are Han characters."""
    chars = len(text) - sum(c.isspace() for c in text)
    return chars > 0 and len(han_chars(text)) * 3 >= chars


def units(text: str) -> list[str]:
    if is_chinese(text):
        return [c for c in text if not c.isspace()]
    return _WORDS.findall(text)


def _ngram_counts(items: list[str], n: int) -> tuple[int, int]:
    grams = [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]
    return len(set(grams)), len(grams)


def distinct_n(text: str, n: int) -> float:
    """Distinct n-grams / n-grams; 0.0 when the text has no n-gram."""
    distinct, total = _ngram_counts(units(text), n)
    return distinct / total if total else 0.0


def repetition_rate(text: str, n: int = REPETITION_N) -> float:
    """Share of n-grams that repeat an earlier one; 0.0 when the text has no n-gram."""
    distinct, total = _ngram_counts(units(text), n)
    return (total - distinct) / total if total else 0.0


def mean_logprob(logprobs: list[float]) -> float | None:
    return sum(logprobs) / len(logprobs) if logprobs else None


def perplexity(logprobs: list[float]) -> float | None:
    mean = mean_logprob(logprobs)
    return math.exp(-mean) if mean is not None else None


class CorpusIndex:
    """A suffix array over a dataset's texts, built once, for the longest stretch a sample shares with them.

    Built by prefix doubling with numpy sorts (no suffix-array library is among the project's dependencies):
    about a second per MB of text. A query binary-searches each suffix of the sample, so it costs
    O(len(sample) * log(corpus)) string comparisons and finds the exact longest common substring.
    """

    def __init__(self, texts: list[str]):
        # NUL between documents: a sample never contains it, so no match spans two documents.
        self.corpus = "\x00".join(texts)
        codes = np.frombuffer(self.corpus.encode("utf-32-le"), dtype="<u4")
        self.suffixes = _suffix_array(codes)

    def longest_match(self, text: str) -> str:
        """The longest substring of `text` that occurs in the corpus (the first one, on ties)."""
        best_start, best_len = 0, 0
        for start in range(len(text)):
            if len(text) - start <= best_len:
                break
            length = self._longest_prefix(text[start:])
            if length > best_len:
                best_start, best_len = start, length
        return text[best_start : best_start + best_len]

    def _longest_prefix(self, query: str) -> int:
        # Sorted suffixes: the one sharing the longest prefix with `query` sits next to its insertion point.
        corpus, width = self.corpus, len(query)
        at = bisect.bisect_left(self.suffixes, query, key=lambda s: corpus[s : s + width])
        return max(
            (_common_prefix(query, corpus[s : s + width]) for s in self.suffixes[max(at - 1, 0) : at + 1]),
            default=0,
        )


def _common_prefix(a: str, b: str) -> int:
    # Binary search on the length with slice comparisons: runs in C, unlike a character loop.
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _suffix_array(codes: np.ndarray) -> np.ndarray:
    """Start offsets of all suffixes in sorted order (Manber-Myers prefix doubling)."""
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.unique(codes, return_inverse=True)[1].astype(np.int64)
    span = 1
    while True:
        # Sort by (rank of the first `span` characters, rank of the next `span`; 0 past the end).
        following = np.zeros(n, dtype=np.int64)
        following[: n - span] = rank[span:] + 1
        key = rank * (n + 1) + following
        order = np.argsort(key)
        ordered = key[order]
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.concatenate(([0], np.cumsum(ordered[1:] != ordered[:-1])))
        if rank[order[-1]] == n - 1 or span >= n:
            return order
        span *= 2


@dataclass
class Memorization:
    shared: str  # the longest stretch of the sample found verbatim in the training data
    threshold_chars: int
    flagged: bool  # the stretch is longer than the threshold

    @property
    def length(self) -> int:
        return len(self.shared)


def memorization(
    text: str, corpus: CorpusIndex | list[str], threshold_chars: int = MEMORIZATION_THRESHOLD
) -> Memorization:
    """The longest stretch `text` shares with the training texts, flagged when longer than `threshold_chars`."""
    index = corpus if isinstance(corpus, CorpusIndex) else CorpusIndex(corpus)
    shared = index.longest_match(text)
    return Memorization(shared, threshold_chars, len(shared) > threshold_chars)


def stats(sample: Sample, corpus_index: CorpusIndex | None = None, threshold_chars: int = MEMORIZATION_THRESHOLD) -> dict:
    """The statistics of one sample, as a flat JSON-ready dict (memorization fields are None without a corpus)."""
    items = units(sample.text)
    d1, n1 = _ngram_counts(items, 1)
    d2, n2 = _ngram_counts(items, 2)
    memo = memorization(sample.text, corpus_index, threshold_chars) if corpus_index is not None else None
    return {
        "length_tokens": len(sample.token_ids),
        "distinct_1": d1 / n1 if n1 else 0.0,
        "distinct_2": d2 / n2 if n2 else 0.0,
        "repetition_rate": repetition_rate(sample.text),
        "mean_logprob": mean_logprob(sample.token_logprobs),
        "perplexity": perplexity(sample.token_logprobs),
        "longest_shared_chars": memo.length if memo else None,
        "memorized": memo.flagged if memo else None,
    }
