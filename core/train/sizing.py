"""The size of a model trained from scratch: width, depth and context for the corpus and the time budget.

A model trained for minutes on a laptop CPU is limited by the tokens it sees, not by its capacity: nanoGPT's CPU
demo (4 layers x 128 wide, 64 characters of context, ~0.8M weights) is the reference. A longer budget or a larger
corpus affords a wider model; a small corpus caps it (more weights would memorise it). The context is in tokens of
the fitted tokenizer, short on a CPU's budget (more optimizer steps of the same characters per second). How many
passes over the corpus the run will make decides its dropout and, for a small corpus, where a budget ends
(PassesCallback in core.train.callbacks). Plain Python: the form calls it on every rerun.
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
    context = context or _context(budget)
    if given and given != "auto":
        match = SHAPE.fullmatch(given.strip())
        if not match:
            raise ValueError(given)
        return Shape(int(match.group(1)), int(match.group(2)), context, "given")
    if budget <= 180:
        layers, width = 4, 128  # nanoGPT's CPU demo: what a couple of minutes can train
    elif budget <= 900:
        layers, width = 4, 192
    else:
        layers, width = 6, 256
    reason = "budget"
    if chars < SMALL_CORPUS and width > 128:  # more weights would memorise it
        layers, width, reason = 4, 128, "small_corpus"
    return Shape(layers, width, context, reason)


# The weight decay of a from-scratch model when none is given: with Muon on many passes over a corpus it held the
# model back from learning it by heart (zh-poetry, 2 min, 11 passes: 4.985 and 4.990 nats per character with 0.1
# against 5.013-5.030 without); over a few passes it cost a little (tinyshakespeare 75 s, 3.7 passes: 1.579 against
# 1.569-1.570; BENCHMARKS.md). A model fine-tuned from its own weights keeps none, as before.
SCRATCH_WEIGHT_DECAY = 0.1


def weight_decay(given: float | None, scratch: bool) -> float:
    """The run's weight decay: as given, else SCRATCH_WEIGHT_DECAY for a from-scratch model and none otherwise."""
    if given is not None:
        return given
    return SCRATCH_WEIGHT_DECAY if scratch else 0.0


DROPOUT_FROM_EPOCHS = ((40.0, 0.2), (5.0, 0.1))  # (passes over the corpus at least, dropout): see dropout_for
SMALL_CORPUS = 200_000  # characters: a corpus this small caps the model's width and the passes over it
# A budget that would go over a small corpus more often than this ends after this many passes: beyond them the
# held-out loss of the CPU-sized models rose, with dropout too (zh-poetry's 88,196 characters, 10 minutes on one core:
# best at 10 passes, worse at each later evaluation; BENCHMARKS.md), so the time left is not worth spending there.
# A larger corpus is not capped (tinyshakespeare's 1M characters still improved at the 11th pass).
MAX_PASSES = 16.0


def max_passes(chars: int) -> float | None:
    """The passes a budget may make over a corpus of `chars` training characters (None: as many as it affords)."""
    return MAX_PASSES if chars < SMALL_CORPUS else None


def dropout_for(epochs: float) -> float:
    """The dropout of a from-scratch model that will go `epochs` times over its corpus. A few passes teach; many
    make a small model learn the corpus by heart, which dropout holds back (nanoGPT trains its 1M-character
    Shakespeare with 0.2 for ~80 passes) at a price: on a CPU a step with dropout on the residual stream is ~15%
    slower (~30% with the attention weights too), so a run of a few passes goes without. Trained with Muon
    (core.train.muon) a model starts to learn by heart sooner: tinyshakespeare, 10 minutes, 8-9 passes, 1.478 nats
    per character with 0.1 against 1.509 without (its held-out loss rising from the 7th pass); at 3.7 passes (75 s)
    none was better. Measured in BENCHMARKS.md ("Quality per minute")."""
    for least, dropout in DROPOUT_FROM_EPOCHS:
        if epochs >= least:
            return dropout
    return 0.0


# AdamW's rate for the embeddings (and the head tied to them) over the run's, by the passes a from-scratch run under
# Muon will make: they learn from few rows a step, and over a few passes a larger rate paid (2 min, 2 threads:
# zh-poetry 5.063 against 5.139 nats per character, another day 5.086 and 5.063 against 5.090 and 5.115;
# tinyshakespeare 175 s 1.529 against 1.547; 10 min of
# tinyshakespeare, 8-9 passes, one core: 1.499 against 1.521), but over many it learnt a small corpus by heart
# (zh-poetry 10 min, 17 passes: 5.158 against 5.018). BENCHMARKS.md, "The embeddings' rate by the passes".
EMBEDDING_RATE_FROM_EPOCHS = ((10.0, 1.0), (0.0, 3.0))  # (passes at least, rate over the run's)


def embedding_rate_for(epochs: float) -> float:
    """The embeddings' rate over the run's for a from-scratch run that will go `epochs` times over its corpus."""
    for least, rate in EMBEDDING_RATE_FROM_EPOCHS:
        if epochs >= least:
            return rate
    return 1.0


def _context(budget_s: float) -> int:
    """Tokens of context: short on a CPU's budget, where more optimizer steps of a shorter block paid (10 min of
    tinyshakespeare on one core: 1.557 nats per character with 256 tokens, 1.518 with 128). Not shorter than 128: a
    character-level model with 64 (zh-poetry, 2 min: 5.03 against 5.12 with 128) could not write the 64 new tokens
    that sampling asks for by default."""
    return 128 if budget_s <= 900 else 256


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
