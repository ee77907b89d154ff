"""What each sample is: length, diversity, repetition, likelihood under the model, and overlap with the training data.

Units: words (runs of letters/digits, each punctuation mark on its own) for most text; characters for Chinese text,
which has no spaces between words. distinct-n = distinct n-grams / all n-grams (Li et al., 2016).
repetition_rate = the share of 4-grams that repeat an earlier 4-gram (1 - distinct-4): a phrase said again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from core.evaluation.memorization import CorpusIndex
from core.text import units

REPETITION_N = 4
MEMORIZATION_THRESHOLD = 50  # characters


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


class Generated(Protocol):
    """What the statistics read of a sample (the Playground's `Sample` has it): evaluation sits below the Playground
    and does not import it."""

    text: str
    token_ids: list[int]
    token_logprobs: list[float]


def stats(sample: Generated, corpus_index: CorpusIndex | None = None, threshold_chars: int = MEMORIZATION_THRESHOLD) -> dict:
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
