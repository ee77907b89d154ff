"""What a cleaning step makes of one document: its new text, or a Dropped that says why it went."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dropped:
    code: str  # machine-readable reason, e.g. "too_short", "exact_duplicate"; the UI translates `reason.<code>`
    message: str  # the same in English, with the numbers: "12 characters, below the minimum of 50"
    values: dict = field(default_factory=dict)  # the numbers, for translated messages, e.g. {"chars": 12, "min": 50}


Outcome = str | Dropped
