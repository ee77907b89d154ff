"""Training for a time instead of a step count: "train for 10 minutes".

The learning-rate schedule runs on the clock, not on steps: its warm-up and its decay are shares of the budget, so
whatever a step costs on this machine (measured as the run goes, not guessed), the rate reaches its end as the
budget does. Evaluations (with their checkpoints) fall every budget / EVALUATIONS seconds, and the run stops early
enough to leave time for its final evaluation and save. Plain Python: the config's check and the CLI parse budgets
without importing torch; the Trainer's side is `core.train.callbacks.BudgetCallback`.
"""

from __future__ import annotations

import math
import re
import time

EVALUATIONS = 5  # evaluations (each with a checkpoint and the gallery) spread over a budget
EVAL_BLOCKS = 64  # blocks evaluated at each of them (the final evaluation takes the whole validation split)
MIN_EVERY_S = 5.0  # but never more often than this: a few-second budget evaluates at its end
UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|min|m|sec|s|)")


def parse_duration(text: str) -> float | None:
    """'90', '90s', '10m', '1.5h', '1h30m' -> seconds; '' -> None (no budget). ValueError on anything else."""
    text = text.strip().lower()
    if not text:
        return None
    parts = list(_PART.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text.replace(" ", ""):
        raise ValueError(text)
    return sum(float(p.group(1)) * UNITS[p.group(2)] for p in parts)


def lr_factor(progress: float, *, warmup: float, schedule: str) -> float:
    """The learning rate as a share of its peak at `progress` (0 to 1) of the budget: linear warm-up over the first
    `warmup` share, then the schedule's decay to zero at the end (as transformers' step schedules of the same names)."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return progress / warmup
    if schedule in ("constant", "constant_with_warmup"):
        return 1.0
    rest = (progress - warmup) / (1 - warmup) if warmup < 1 else 1.0
    return max(0.0, 1 - rest) if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * rest))


class Clock:
    """The budget's clock: seconds of training spent (those before a resume included) and what is due when."""

    def __init__(self, budget_s: float, spent_s: float = 0.0):
        self.budget_s, self.spent_before = budget_s, spent_s
        self.started = None
        self.every_s = max(MIN_EVERY_S, budget_s / EVALUATIONS)
        self.next_eval_s = (math.floor(spent_s / self.every_s) + 1) * self.every_s
        self.reserve_s = 0.0  # what the final evaluation and save will take: measured at each evaluation

    def shorten(self, budget_s: float) -> None:
        """End sooner (a from-scratch run capped at the passes that pay, core.train.sizing.MAX_PASSES): the schedule
        and the evaluations fit into the shorter time from now on."""
        self.budget_s = min(self.budget_s, budget_s)
        self.every_s = max(MIN_EVERY_S, self.budget_s / EVALUATIONS)
        self.next_eval_s = (math.floor(self.spent() / self.every_s) + 1) * self.every_s

    def start(self) -> None:
        self.started = time.monotonic()

    def spent(self) -> float:
        return self.spent_before + (time.monotonic() - self.started if self.started is not None else 0.0)

    def progress(self) -> float:
        """The share of the training time spent: the budget less the reserve for the final evaluation and save."""
        return min(1.0, self.spent() / max(self.budget_s - self.reserve_s, 1e-9))

    def eval_due(self) -> bool:
        if self.spent() < self.next_eval_s:
            return False
        self.next_eval_s = (math.floor(self.spent() / self.every_s) + 1) * self.every_s
        return True

    def over(self) -> bool:
        """Time to stop: what is left of the budget is about what the final evaluation and save take."""
        return self.spent() + self.reserve_s >= self.budget_s
