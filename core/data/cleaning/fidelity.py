"""How much of the author's text a cleaning run kept: the documents it dropped that were not duplicates, and the
lines of those documents that came through verbatim (whitespace aside).

Cleaning exists to remove junk, not literature: on real verse, prose and plays these two numbers say whether a
recipe did only that. The CLI prints them, and the real-corpus tests hold the default recipe to them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from core.data.cleaning.pipeline import CleanResult

DUPLICATE_CODES = {"exact_duplicate", "near_duplicate"}
_SPACE = re.compile(r"\s+")


@dataclass
class Fidelity:
    documents: int  # documents in
    duplicates: int  # dropped as exact or near duplicates: not counted below
    dropped: dict = field(default_factory=dict)  # reason code -> documents dropped for it (duplicates aside)
    lines: int = 0  # non-blank lines of the documents that were not duplicates
    lines_kept: int = 0  # of those, lines found unchanged (whitespace aside) in their cleaned document

    @property
    def originals(self) -> int:
        return self.documents - self.duplicates

    @property
    def drop_share(self) -> float:
        """Share of the non-duplicate documents that were dropped."""
        return sum(self.dropped.values()) / self.originals if self.originals else 0.0

    @property
    def kept_share(self) -> float:
        """Share of the non-duplicate documents' lines kept verbatim, whitespace aside."""
        return self.lines_kept / self.lines if self.lines else 1.0

    def summary(self) -> str:
        return (f"{sum(self.dropped.values())} of {self.originals} non-duplicate documents dropped "
                f"({self.drop_share:.2%}), {self.kept_share:.2%} of their lines kept verbatim")


def _line_keys(text: str) -> Counter:
    return Counter(key for key in (_SPACE.sub("", line) for line in text.splitlines()) if key)


def measure(texts: list[str], result: CleanResult) -> Fidelity:
    """Compare a cleaning result with the texts it was made from (the same list that went into `clean`)."""
    duplicates = {i for i, code in result.dropped.items() if code in DUPLICATE_CODES}
    fidelity = Fidelity(len(texts), len(duplicates))
    fidelity.dropped = dict(Counter(code for code in result.dropped.values() if code not in DUPLICATE_CODES))
    cleaned = dict(zip(result.kept, result.texts))
    for i, text in enumerate(texts):
        if i in duplicates:
            continue
        before = _line_keys(text)
        fidelity.lines += sum(before.values())
        if i in cleaned:
            after = _line_keys(cleaned[i])
            fidelity.lines_kept += sum(min(n, after[key]) for key, n in before.items())
    return fidelity
