"""Character classes as lookup tables over all code points, for counting over a whole text with numpy instead of
scanning it with a regular expression (a regex scan costs about a tenth of a microsecond per character)."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_CODE_POINTS = 0x110000


@lru_cache(maxsize=16)
def table(char_class: str) -> np.ndarray:
    """For each code point, whether the one-character regular expression `char_class` (e.g. r"\\w") matches it:
    Python's own re decides, so the table agrees with the pattern by construction."""
    hits = np.ones(_CODE_POINTS, dtype=bool)
    # Runs of matches removed at once: a third of the time of one match per code point (tables are built in each
    # worker of every cleaning run), and the same code points stand.
    hits[code_points(re.sub(f"(?:{char_class})+", "", _every_code_point()))] = False  # left standing: no match
    return hits


@lru_cache(maxsize=8)
def flags(*char_classes: str) -> np.ndarray:
    """For each code point, bit i set when `char_classes[i]` matches it (at most 8 classes, as `table`): one
    lookup per character answers them all (each lookup is a random access into a table of 1.1 M entries)."""
    bits = np.zeros(_CODE_POINTS, dtype=np.uint8)
    for i, char_class in enumerate(char_classes):
        bits[table(char_class)] |= np.uint8(1 << i)
    return bits


@lru_cache(maxsize=1)
def _every_code_point() -> str:
    return np.arange(_CODE_POINTS, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")


def code_points(text: str) -> np.ndarray:
    """The text's code points (lone surrogates included, as Python's str holds them)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def from_code_points(codes: np.ndarray) -> str:
    """The inverse of `code_points`."""
    return codes.astype("<u4", copy=False).tobytes().decode("utf-32-le", "surrogatepass")


def runs(mask: np.ndarray) -> int:
    """How many runs of consecutive True values `mask` holds (what `re.findall("[class]+")` would count)."""
    if not len(mask):
        return 0
    return int(mask[0]) + int(np.count_nonzero(mask[1:] & ~mask[:-1]))


class Batch:
    """Several texts' code points in one array, each text followed by a NUL (no letter, digit, space or CJK),
    with each text's span: per-text counts over a whole chunk of documents in a few numpy calls instead of a few
    calls per document, which cost more than the work on a short text (a line of verse)."""

    def __init__(self, texts: list[str]):
        self.codes = code_points("\x00".join(texts) + "\x00")
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        self.ends = np.cumsum(lengths + 1) - 1  # the NUL after each text
        self.starts = self.ends - lengths

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Per text, how many of its characters `mask` (one bool per code point of the batch) marks."""
        if not len(self.starts):
            return np.zeros(0, dtype=np.int64)
        return np.add.reduceat(mask, self.starts, dtype=np.int64) - mask[self.ends]

    def owner(self, positions: np.ndarray) -> np.ndarray:
        """The text each position of the batch belongs to."""
        return np.searchsorted(self.starts, positions, side="right") - 1

    def text(self, i: int, codes: np.ndarray) -> str:
        """Text i of the batch, read from `codes` (the batch's code points or a changed copy of them)."""
        return from_code_points(codes[self.starts[i] : self.ends[i]])
