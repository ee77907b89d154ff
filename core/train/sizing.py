"""The size of a model trained from scratch: width, depth and context for the corpus and the time budget.

A model trained for minutes on a laptop CPU is limited by the tokens it sees, not by its capacity: nanoGPT's CPU
demo (4 layers x 128 wide, 64 characters of context, ~0.8M weights) is the reference. A longer budget or a larger
corpus affords a wider model; a small corpus caps it (more weights would memorise it). The context is in tokens of
the fitted tokenizer: longer context lowers the loss per character of later positions at little cost in a tiny
model, so it grows with the budget too. Plain Python: the form calls it on every rerun.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.train.budget import parse_duration
from core.train.config import SHAPE, from_scratch


@dataclass(frozen=True)
class Shape:
    layers: int
    width: int
    context: int
    reason: str  # a code: the form says `train.size.<reason>` in the user's language, the CLI the English line

    @property
    def heads(self) -> int:
        return max(1, self.width // 32)  # heads of 32: more, narrower heads than GPT-2's 64 suit a tiny width

    @property
    def learning_rate(self) -> float:
        """The peak rate when none is given: a tiny model trained for minutes takes a high one (4 x 128 on
        tinyshakespeare in 75 s: 1.72 nats per character at 1e-3, 1.68 at 1.5e-3, 1.66 at 2e-3; BENCHMARKS.md), a
        wider one nanoGPT's 1e-3."""
        return 2e-3 if self.width <= 192 else 1e-3

    def weights(self, vocab: int) -> int:
        """Parameters, tied embeddings counted once (GPT-2's layout)."""
        return vocab * self.width + self.context * self.width + self.layers * 12 * self.width * self.width

    def describe(self, budget_s: float | None, chars: int, vocab: int | None = None) -> str:
        why = {"given": "as given", "small_corpus": f"capped for a small corpus of {chars:,} characters",
               "budget": f"sized for {_minutes(budget_s)} of training on {chars:,} characters"}[self.reason]
        vocabulary = f", {vocab}-token fitted vocabulary" if vocab else ""
        return f"{self.layers} layers x {self.width} wide, {self.context}-token context{vocabulary}: {why}"


def propose(chars: int, budget_s: float | None, *, given: str = "auto", context: int | None = None) -> Shape:
    """The shape for a corpus of `chars` training characters and a budget (None: a run of steps, sized as 2 min)."""
    budget = budget_s or 120.0
    if given and given != "auto":
        match = SHAPE.fullmatch(given.strip())
        if not match:
            raise ValueError(given)
        return Shape(int(match.group(1)), int(match.group(2)), context or _context(budget), "given")
    if budget <= 180:
        layers, width = 4, 128  # nanoGPT's CPU demo: what a couple of minutes can train
    elif budget <= 900:
        layers, width = 4, 192
    else:
        layers, width = 6, 256
    reason = "budget"
    if chars < 200_000 and width > 128:  # a few hundred thousand characters: more weights would memorise them
        layers, width, reason = 4, 128, "small_corpus"
    return Shape(layers, width, context or _context(budget), reason)


def _context(budget_s: float) -> int:
    return 128 if budget_s <= 300 else 256


def _minutes(seconds: float | None) -> str:
    if not seconds:
        return "a run of steps"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def plan(config, model_kind: str, chars: int) -> Shape | None:
    """The shape a run of this configuration will train from scratch (None: it trains the model's own weights), for
    the form to show before the run starts; the trainer makes the same call."""
    if not from_scratch(config, model_kind):
        return None
    try:
        return propose(chars, parse_duration(config.time_budget), given=config.scratch_size, context=config.block_size)
    except ValueError:
        return None  # the form's check says what cannot be read
