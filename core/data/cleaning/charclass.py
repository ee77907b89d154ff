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
    everything = np.arange(_CODE_POINTS, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    hits = np.ones(_CODE_POINTS, dtype=bool)
    hits[code_points(re.sub(char_class, "", everything))] = False  # what the class leaves standing: no match
    return hits


def code_points(text: str) -> np.ndarray:
    """The text's code points (lone surrogates included, as Python's str holds them)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
