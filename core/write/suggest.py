"""Suggestions: N continuations of the draft's end, and "branch from here", through the Playground's one batched
decoder (`core.playground.sampling.generate`: per-row generators, whole characters only, candidates per token)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.models.loading import context_length
from core.playground.sampling import Candidate, DecodingConfig, Sample, Step, generate
from core.playground.token_text import TextStream
from core.write import prompt as prompts

LENGTHS = {"line": 24, "paragraph": 160}  # new tokens for a short (a line) and a long (a paragraph) continuation
DEFAULT_CONTEXT = 1024  # for a model whose configuration does not say
KEEP_TOP = 10  # candidates kept per token, as in the Playground


@dataclass
class Suggestions:
    prompt: prompts.Prompt  # what the model was given, and what the memory and the draft took of its context
    config: DecodingConfig  # the setting as run (its seed, samples and length)
    samples: list[Sample]  # one per alternative, in order

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.samples]


def run_config(config: DecodingConfig, *, n: int, length: str, round_: int = 0) -> DecodingConfig:
    """The setting as a suggestion runs it: n rows (one when greedy: its rows would all be the same), the length's
    token budget, and a seed moved by `round_` so that "more" gives new alternatives."""
    return replace(config, num_samples=n if config.do_sample else 1, max_new_tokens=LENGTHS[length],
                   seed=config.seed + round_)


def suggest(model, tokenizer, memory: str, draft: str, config: DecodingConfig, *, n: int = 3, length: str = "line",
            round_: int = 0, on_token: Callable[[int, str], None] | None = None) -> Suggestions:
    """Continue the draft's end (after the memory) with `n` alternatives. A "line" ends at its first line break
    once it has some text (the decode stops when every row has one)."""
    config = run_config(config, n=n, length=length, round_=round_)
    prompt = prompts.build(tokenizer, memory, draft, context=context_length(model.config) or DEFAULT_CONTEXT,
                           reserve=config.max_new_tokens)
    stop, texts = threading.Event(), {}

    def seen(row: int, piece: str) -> None:
        texts[row] = texts.get(row, "") + piece
        if on_token is not None:
            on_token(row, piece)
        if length == "line" and len(texts) == config.num_samples and all(_line_end(t) for t in texts.values()):
            stop.set()

    samples = generate(model, tokenizer, prompt.text, [config], stop=stop, on_token=seen, keep_top=KEEP_TOP)
    if length == "line":
        samples = [_cut(s, tokenizer, _line_end(s.text) or len(s.text)) for s in samples]
    return Suggestions(prompt, config, samples)


def _line_end(text: str) -> int:
    """Where a one-line continuation ends: at the first line break after some text; 0 while there is none."""
    body = len(text) - len(text.lstrip())
    found = text.find("\n", body)
    return found if found > 0 else 0


def _cut(sample: Sample, tokenizer, chars: int) -> Sample:
    """The sample up to the token that completes its first `chars` characters (text, tokens and steps alike)."""
    stream, count = TextStream(tokenizer), 0
    while count < len(sample.token_ids) and len(stream.sent) < chars:
        stream.push(sample.token_ids[count])
        count += 1
    steps = sample.steps[:count] if sample.steps else sample.steps
    return replace(sample, text=stream.sent[:chars], token_ids=sample.token_ids[:count],
                   token_logprobs=sample.token_logprobs[:count], steps=steps)


def branch(model, tokenizer, memory: str, before: str, sample: Sample, at: int, token_id: int,
           config: DecodingConfig) -> Sample:
    """Regenerate `sample` from token `at` on, with `token_id` (one of that step's candidates) in its place: the
    tokens before it are kept, the rest is decoded again under the same setting and as many tokens as before."""
    kept = [*sample.token_ids[:at], token_id]
    stream = TextStream(tokenizer)
    for token in kept:
        stream.push(token)
    head = stream.sent
    budget = max(1, len(sample.token_ids) - len(kept))
    run = replace(config, num_samples=1, max_new_tokens=budget)
    prompt = prompts.build(tokenizer, memory, before + head, context=context_length(model.config) or DEFAULT_CONTEXT,
                           reserve=budget)
    tail = generate(model, tokenizer, prompt.text, [run], keep_top=KEEP_TOP)[0]
    old = sample.steps[at] if sample.steps and at < len(sample.steps) else Step(token_id, [])
    chosen = next((c for c in old.candidates if c.token_id == token_id), None)
    logprob = _log(chosen.prob) if chosen else 0.0
    steps = [*(sample.steps or [])[:at], Step(token_id, old.candidates), *(tail.steps or [])]
    return replace(sample, text=head + tail.text, token_ids=kept + tail.token_ids,
                   token_logprobs=[*sample.token_logprobs[:at], logprob, *tail.token_logprobs], steps=steps)


def _log(prob: float) -> float:
    return math.log(prob) if prob > 0 else float("-inf")


def sample_from_dict(data: dict) -> Sample:
    """A Sample read back from a draft's JSON (its steps and candidates as dataclasses again)."""
    steps = data.get("steps")
    if steps is not None:
        steps = [Step(s["token_id"], [Candidate(**c) for c in s["candidates"]]) for s in steps]
    return Sample(**{**data, "steps": steps})
