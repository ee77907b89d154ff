"""One batched decode for many decoding settings: every (setting, sample) of a prompt is a row of one batch.

`model.generate` takes one setting per call, so a grid of settings would cost one decode loop each. Here all rows
share one KV-cached loop; what differs per row (penalties, temperature, top-k, top-p, random generator) is applied
per row, with the same arithmetic as transformers' own logits processors, in the order `generate` applies them
(`GenerationMixin._get_logits_processor`: repetition penalty, no-repeat-n-gram, then for sampling only
temperature, top-k, top-p; filtered tokens get -inf; min_tokens_to_keep is 1 outside beam search). Between the
penalties and the warpers, where `generate` puts a prefix constraint, rows with `valid_utf8` are kept to tokens
that continue valid UTF-8 (`core.playground.utf8_guard`), so no row writes a broken character.

Reproducibility: row (config, sample_index) draws from its own `torch.Generator` seeded with
`seed * 1_000_003 + sample_index` (`row_seed`), so its text does not depend on which other rows share the batch.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from core import dataclass_json
from core.errors import UserError
from core.models.loading import context_length
from core.playground.token_text import TextStream, token_label
from core.playground.utf8_guard import Utf8Guard, state_of

if TYPE_CHECKING:
    import torch

SEED_STRIDE = 1_000_003  # a prime larger than any samples-per-column, so (seed, index) pairs never share a stream
MAX_SEED = 2**32 - 1


@dataclass
class DecodingConfig:
    """One column of the grid; field names are transformers' generation-config names."""

    name: str = "greedy"  # the column's label, unique within a grid
    do_sample: bool = False  # False: greedy (argmax); the warpers below apply only when sampling
    temperature: float = 1.0  # logits divided by this before top-k/top-p; > 0 when sampling
    top_k: int = 0  # keep only the k most likely tokens; 0 = off
    top_p: float = 1.0  # keep the smallest set of tokens with this much probability; 1.0 = off
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in prompt or output; 1.0 = off
    no_repeat_ngram_size: int = 0  # never repeat an n-gram of this many tokens; 0 = off
    max_new_tokens: int = 64  # continuation length cap (an end-of-text token ends a row earlier)
    num_samples: int = 1  # rows of this column
    seed: int = 0  # with the sample index, seeds each row's own random generator
    valid_utf8: bool = True  # only tokens that continue valid UTF-8 (no broken characters); off = the raw model

    def validate(self) -> DecodingConfig:
        if not self.name:
            raise UserError.coded("setting_name_empty")
        if self.do_sample and not self.temperature > 0:
            raise UserError.coded("setting_temperature", name=self.name)
        if not 0 < self.top_p <= 1:
            raise UserError.coded("setting_top_p", name=self.name)
        if self.top_k < 0:
            raise UserError.coded("setting_top_k", name=self.name)
        if not self.repetition_penalty > 0:
            raise UserError.coded("setting_repetition_penalty", name=self.name)
        if self.no_repeat_ngram_size < 0:
            raise UserError.coded("setting_no_repeat_ngram", name=self.name)
        if self.max_new_tokens < 1:
            raise UserError.coded("setting_max_new_tokens", name=self.name)
        if self.num_samples < 1:
            raise UserError.coded("setting_num_samples", name=self.name)
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError.coded("setting_seed", name=self.name, max=MAX_SEED)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def generate_kwargs(self) -> dict:
        """This setting as `model.generate` keywords: every filter named, so the model's own generation_config
        (transformers' default top_k=50 among them) cannot add one that the recorded settings do not show."""
        return {"do_sample": self.do_sample, "temperature": self.temperature, "top_k": self.top_k,
                "top_p": self.top_p, "repetition_penalty": self.repetition_penalty,
                "no_repeat_ngram_size": self.no_repeat_ngram_size, "max_new_tokens": self.max_new_tokens}

    @classmethod
    def from_dict(cls, data: dict, *, where: str = "the setting") -> DecodingConfig:
        """Read a JSON object; unknown keys and values of the wrong type or range are a UserError."""
        return dataclass_json.from_dict(cls, data, where=where).validate()  # the lab's one typed JSON reader


DEFAULT_CONFIGS = [
    DecodingConfig(name="greedy"),
    DecodingConfig(name="top-k 50", do_sample=True, top_k=50),
    DecodingConfig(name="top-p 0.9", do_sample=True, top_p=0.9),
    DecodingConfig(name="temperature 1.2", do_sample=True, temperature=1.2),
]


@dataclass
class Candidate:
    """One of the most likely next tokens at a step, for the token view."""

    token_id: int
    text: str  # the token as a person sees it (`core.playground.token_text.token_label`: byte pieces as <0xE6>)
    prob: float  # under the temperature-scaled distribution, before top-k/top-p
    cut: str | None  # "top_k" or "top_p" when that filter removed it, else None


@dataclass
class Step:
    token_id: int  # the token chosen at this step
    candidates: list[Candidate]


@dataclass
class Sample:
    config: str  # the DecodingConfig's name
    sample_index: int
    seed: int  # the config's seed; the row's generator is seeded with row_seed(seed, sample_index)
    prompt: str
    text: str  # the continuation only, special tokens left out
    token_ids: list[int]  # the continuation, an ending end-of-text token included
    token_logprobs: list[float]  # log-prob of each chosen token under the raw model (log_softmax of its logits)
    steps: list[Step] | None = None  # per-step top candidates, when asked for with keep_top
    stopped: bool = False  # cut short by the stop event

    def to_dict(self) -> dict:
        return asdict(self)


def row_seed(seed: int, sample_index: int) -> int:
    return seed * SEED_STRIDE + sample_index


@dataclass
class RowParams:
    """Per-row decoding parameters as tensors, so one step processes every row at once."""

    do_sample: torch.Tensor  # (B,) bool
    temperature: torch.Tensor  # (B, 1); 1.0 for greedy rows (warpers are a sampling thing in generate too)
    temperature_inverse: torch.Tensor  # (B, 1): 1 / temperature, in double then rounded (see _divide)
    top_k: torch.Tensor  # (B,) long; 0 = off
    top_p_floor: torch.Tensor  # (B, 1): 1 - top_p, computed in double like the Python float transformers uses
    use_top_p: torch.Tensor  # (B,) bool: top_p < 1 and sampling
    penalty: torch.Tensor  # (B, 1); 1.0 = off (x * 1 and x / 1 are exact, so off rows stay untouched)
    penalty_inverse: torch.Tensor  # (B, 1): 1 / penalty, in double then rounded (see _divide)
    ngram: list[int] = field(default_factory=list)  # per row; 0 = off

    @classmethod
    def of(cls, configs: list[DecodingConfig], device=None) -> RowParams:
        # lazy: torch takes ~1 s to import, and only this path needs it
        import torch

        def column(values, dtype):
            return torch.tensor(values, dtype=dtype, device=device)

        temperatures = [c.temperature if c.do_sample else 1.0 for c in configs]
        return cls(
            do_sample=column([c.do_sample for c in configs], torch.bool),
            temperature=column([[t] for t in temperatures], torch.float32),
            temperature_inverse=column([[1 / t] for t in temperatures], torch.float32),
            top_k=column([c.top_k if c.do_sample else 0 for c in configs], torch.long),
            top_p_floor=column([[1 - c.top_p] for c in configs], torch.float32),
            use_top_p=column([c.do_sample and c.top_p < 1.0 for c in configs], torch.bool),
            penalty=column([[c.repetition_penalty] for c in configs], torch.float32),
            penalty_inverse=column([[1 / c.repetition_penalty] for c in configs], torch.float32),
            ngram=[c.no_repeat_ngram_size for c in configs],
        )


def _divide(x: torch.Tensor, divisor: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    # transformers divides by a Python float. On CPU torch does a true division; on CUDA it multiplies by the
    # divisor's reciprocal (taken in double, then rounded to float32: checked on an H200, torch 2.11). Do the
    # same, so that the results match bit for bit on either device.
    return x * inverse if x.is_cuda else x / divisor


def penalize(input_ids: torch.Tensor, scores: torch.Tensor, rows: RowParams) -> torch.Tensor:
    """Repetition penalty then no-repeat-n-gram ban, each row with its own parameters (greedy rows too)."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    vocab = scores.shape[-1]
    if bool((rows.penalty != 1.0).any()):
        # As RepetitionPenaltyLogitsProcessor: every id seen (prompt included) is penalized once; ids past the
        # logits' width go to a spare column that is dropped.
        ids = input_ids.clamp(max=vocab)
        padded = torch.nn.functional.pad(scores, (0, 1))
        seen = padded.gather(1, ids)
        seen = torch.where(seen < 0, seen * rows.penalty, _divide(seen, rows.penalty, rows.penalty_inverse))
        scores = padded.scatter(1, ids, seen)[..., :vocab]
    for n in sorted(set(rows.ngram) - {0}):
        # Rows are grouped by n-gram size; within a group it is NoRepeatNGramLogitsProcessor's own algorithm.
        group = torch.tensor([i for i, m in enumerate(rows.ngram) if m == n], device=scores.device)
        scores = scores.index_put((group,), _ban_repeated_ngrams(input_ids[group], scores[group], n))
    return scores


def _ban_repeated_ngrams(input_ids: torch.Tensor, scores: torch.Tensor, n: int) -> torch.Tensor:
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    length = input_ids.shape[-1]
    if length < n:
        return scores
    # A window whose first n-1 tokens equal the last n-1 tokens bans its own last token.
    prefix = input_ids[:, length + 1 - n :]
    windows = input_ids.unfold(dimension=1, size=n, step=1)
    matches = (windows[..., :-1] == prefix.unsqueeze(1)).all(dim=-1)
    vocab = scores.shape[-1]
    banned = scores.new_zeros((scores.shape[0], vocab + 1), dtype=bool)
    banned.scatter_(1, torch.where(matches, windows[..., -1].clamp(max=vocab), vocab), True)
    return scores.masked_fill(banned[:, :vocab], -float("inf"))


def warp(scores: torch.Tensor, rows: RowParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Temperature, then top-k, then top-p, per row. Returns (scaled, cut_by_top_k, cut_by_top_p).

    `scaled` is the temperature-scaled scores before filtering (what the token view shows); the filtered scores
    are `scaled` with both cut masks set to -inf. Greedy rows have temperature 1 and no filters.
    """
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    scaled = _divide(scores, rows.temperature, rows.temperature_inverse)
    cut_k = torch.zeros_like(scaled, dtype=torch.bool)
    with_k = torch.nonzero(rows.top_k > 0).flatten()
    if len(with_k):
        # As TopKLogitsWarper: drop what is below the k-th largest score (ties with it are kept).
        k = rows.top_k[with_k].clamp(max=scaled.shape[-1])
        kth = torch.topk(scaled[with_k], int(k.max())).values.gather(1, (k - 1)[:, None])
        cut_k[with_k] = scaled[with_k] < kth
    cut_p = torch.zeros_like(scaled, dtype=torch.bool)
    with_p = torch.nonzero(rows.use_top_p).flatten()
    if len(with_p):
        # As TopPLogitsWarper, on the top-k survivors: ascending sort, drop tokens while the mass below them is
        # <= 1 - top_p, always keep the most likely one. Only these rows are sorted: the sort is the costly part.
        kept = scaled[with_p].masked_fill(cut_k[with_p], -float("inf"))
        sorted_scores, order = torch.sort(kept, descending=False)
        mass = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        drop = mass <= rows.top_p_floor[with_p]
        drop[..., -1:] = False
        cut_p[with_p] = drop.scatter(1, order, drop) & ~cut_k[with_p]
    return scaled, cut_k, cut_p


@dataclass
class Processed:
    """A step's scores after `process`: temperature-scaled, and which tokens top-k and top-p cut."""

    scaled: torch.Tensor  # before filtering: what the token view shows
    cut_k: torch.Tensor
    cut_p: torch.Tensor

    @property
    def final(self) -> torch.Tensor:
        """The scores each row picks its next token from: greedy rows take their argmax, sampling rows sample."""
        return self.scaled.masked_fill(self.cut_k | self.cut_p, -float("inf"))


def process(
    input_ids: torch.Tensor,
    scores: torch.Tensor,
    rows: RowParams,
    constrain: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Processed:
    """Penalties, then `constrain` (where generate applies a prefix constraint: the UTF-8 mask), then warpers."""
    scores = penalize(input_ids, scores, rows)
    if constrain is not None:
        scores = constrain(scores)
    return Processed(*warp(scores, rows))


def _cache_keyword(model) -> str:
    # transformers 5.2x renamed the forward argument `past_key_values` to `cache` (the old name still works,
    # with a deprecation warning); use whichever this version's model takes.
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _eos_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    return set(eos if isinstance(eos, list) else [] if eos is None else [eos])


def generate(
    model,
    tokenizer,
    prompt: str,
    configs: list[DecodingConfig],
    *,
    stop: threading.Event | None = None,
    on_token: Callable[[int, str], None] | None = None,
    keep_top: int = 0,
) -> list[Sample]:
    """Continue `prompt` under every config, `num_samples` rows each, in one batched KV-cached loop.

    Rows come back in order: config by config, sample by sample. `on_token(row, text)` is called once for each
    token a row produces, with the text it adds: whole characters only (empty while a character is unfinished,
    and for end-of-text). A character the token budget cuts off is left out of the text.
    `stop` is checked between steps; the rows then return what they have.
    """
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    specs = _row_specs(configs)
    device = next(model.parameters()).device
    params = RowParams.of([c for c, _ in specs], device)
    generators = [_row_generator(config, index, device) for config, index in specs]
    prompt_ids = _prompt_ids(model, tokenizer, prompt, device)
    longest = _check_context(model, prompt_ids, configs)
    rows = _Rows(specs, tokenizer, _eos_ids(model, tokenizer), on_token, keep_top)
    guarded = [config.valid_utf8 for config, _ in specs]
    cache_kw = _cache_keyword(model)

    with torch.inference_mode():
        # Prefill: the prompt is the same for every row, run it once and copy its cache to every row.
        cache, logits = _prefill(model, prompt_ids, len(specs), cache_kw)
        sequences = prompt_ids.expand(len(specs), -1)
        guard = Utf8Guard.of(tokenizer, logits.shape[-1], device) if any(guarded) else None
        for _ in range(longest):
            if stop is not None and stop.is_set():
                rows.stopped = True
                break
            # Choose: the processed scores of every row, then argmax or each row's own draw.
            constrain = None
            if guard is not None:
                states = [state_of(stream.pending) for stream in rows.streams]
                constrain = functools.partial(guard.apply, states=states, guarded=guarded)
            processed = process(sequences, logits, params, constrain)
            chosen = _choose(processed.final, rows, generators)
            # Record: each unfinished row keeps its token, log-prob, candidates and streamed text.
            rows.record(chosen, logits, processed)
            sequences = torch.cat([sequences, chosen[:, None]], dim=1)
            if all(rows.done):
                break
            cache, logits = _forward(model, chosen, sequences, cache, cache_kw)

    # Assemble: one Sample per row.
    return rows.samples(prompt)


def _row_specs(configs: list[DecodingConfig]) -> list[tuple[DecodingConfig, int]]:
    """(config, sample index) of every row, after checking the configs."""
    if not configs:
        raise UserError.coded("no_settings")
    for config in configs:
        config.validate()
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise UserError.coded("settings_names_distinct", names=", ".join(names))
    return [(c, i) for c in configs for i in range(c.num_samples)]


def _row_generator(config: DecodingConfig, index: int, device) -> torch.Generator:
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(row_seed(config.seed, index))
    return generator


def _prompt_ids(model, tokenizer, prompt: str, device) -> torch.Tensor:
    """The plain tokenization, as model.generate(**tokenizer(prompt, return_tensors="pt")) gets it."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    prompt_ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
    if prompt_ids.shape[1] == 0:  # an empty prompt starts from the start token, as generate does
        start = model.generation_config.bos_token_id
        start = tokenizer.eos_token_id if start is None else start
        prompt_ids = torch.tensor([[start]], device=device)
    return prompt_ids


def _check_context(model, prompt_ids: torch.Tensor, configs: list[DecodingConfig]) -> int:
    """The most new tokens any row may take, after checking that prompt and continuation fit the context."""
    limit = context_length(model.config)
    longest = max(c.max_new_tokens for c in configs)
    if limit and prompt_ids.shape[1] + longest > limit:
        raise UserError.coded("prompt_too_long", prompt=prompt_ids.shape[1], new=longest, limit=limit)
    return longest


def _prefill(model, prompt_ids: torch.Tensor, batch: int, cache_kw: str):
    """(cache, logits) after the prompt, both widened to `batch` rows."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    out = model(input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids), use_cache=True)
    cache = getattr(out, cache_kw)
    cache.batch_repeat_interleave(batch)
    return cache, out.logits[:, -1, :].to(torch.float32).expand(batch, -1)


def _forward(model, chosen: torch.Tensor, sequences: torch.Tensor, cache, cache_kw: str):
    """(cache, logits) after feeding each row its chosen token."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    # All-ones mask, as generate passes: rows never pad the prompt, and a finished row's filler only affects that
    # row's own (ignored) outputs.
    step = {cache_kw: cache, "attention_mask": torch.ones_like(sequences), "use_cache": True}
    out = model(input_ids=chosen[:, None], **step)
    return getattr(out, cache_kw), out.logits[:, -1, :].to(torch.float32)


def _choose(final: torch.Tensor, rows: _Rows, generators: list[torch.Generator]) -> torch.Tensor:
    """Each row's next token: greedy rows the argmax, sampling rows a draw; finished rows the filler token."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    chosen = final.argmax(dim=-1)
    drawing = [row for row in rows.sampling if not rows.done[row]]
    if drawing:
        # One uniform number per row from the row's own generator, then inverse-CDF sampling for all of them at
        # once (torch.multinomial takes one generator per call: a call per row was slower).
        uniform = torch.cat([torch.rand(1, generator=generators[row], device=final.device) for row in drawing])
        at = torch.tensor(drawing, device=final.device)
        chosen[at] = _draw(final[at].softmax(dim=-1), uniform)
    # Finished rows are fed the filler token; their outputs are ignored from then on.
    return chosen.masked_fill(torch.tensor(rows.done, device=final.device), rows.filler)


class _Rows:
    """What every row of one decode has produced so far."""

    def __init__(self, specs, tokenizer, eos: set[int], on_token, keep_top: int):
        self.specs = specs
        self.tokenizer = tokenizer
        self.eos = eos
        self.filler = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos, default=0)
        self.on_token = on_token
        self.keep_top = keep_top
        self.sampling = [row for row, (config, _) in enumerate(specs) if config.do_sample]
        self.budgets = [c.max_new_tokens for c, _ in specs]
        self.ids: list[list[int]] = [[] for _ in specs]
        self.logprobs: list[list[float]] = [[] for _ in specs]
        self.steps: list[list[Step]] = [[] for _ in specs]
        self.done = [False] * len(specs)
        self.streams = [TextStream(tokenizer, live=on_token is not None) for _ in specs]
        self.labels: dict[int, str] = {}  # token id -> label, for the candidates
        self.stopped = False

    def record(self, chosen: torch.Tensor, logits: torch.Tensor, processed: Processed) -> None:
        # lazy: torch takes ~1 s to import, and only this path needs it
        import torch

        logprobs = torch.log_softmax(logits, dim=-1).gather(1, chosen[:, None])[:, 0].tolist()
        top = None
        if self.keep_top > 0:
            top = _top_candidates(processed.scaled, processed.cut_k, processed.cut_p, self.keep_top)
        for row, token in enumerate(chosen.tolist()):
            if self.done[row]:
                continue
            self.ids[row].append(token)
            self.logprobs[row].append(logprobs[row])
            if top is not None:
                self.steps[row].append(Step(token, [_candidate(self.tokenizer, self.labels, *c) for c in top[row]]))
            self.done[row] = token in self.eos or len(self.ids[row]) >= self.budgets[row]
            piece = self.streams[row].push(token)
            if self.on_token:
                self.on_token(row, piece)

    def samples(self, prompt: str) -> list[Sample]:
        return [
            Sample(
                config=config.name,
                sample_index=index,
                seed=config.seed,
                prompt=prompt,
                text=self.streams[row].text(),
                token_ids=self.ids[row],
                token_logprobs=self.logprobs[row],
                steps=self.steps[row] if self.keep_top > 0 else None,
                stopped=self.stopped and not self.done[row],
            )
            for row, (config, index) in enumerate(self.specs)
        ]


def _draw(probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """For each row, the token where the cumulative probability first exceeds uniform * total.

    In float64 so rounding cannot shift the pick; `right=True` never lands on a token of probability 0.
    """
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    cdf = probs.double().cumsum(dim=-1)
    target = (uniform.double() * cdf[:, -1]).unsqueeze(1)
    return torch.searchsorted(cdf, target, right=True)[:, 0].clamp(max=probs.shape[-1] - 1)


def _top_candidates(scaled, cut_k, cut_p, k: int) -> list[list[tuple[int, float, str | None]]]:
    """Per row, the k most likely tokens of the scaled distribution: (id, probability, which filter cut it)."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    values, ids = torch.topk(scaled.softmax(dim=-1), min(k, scaled.shape[-1]))
    flags_k = cut_k.gather(1, ids).tolist()
    flags_p = cut_p.gather(1, ids).tolist()
    result = []
    for row, (row_ids, row_probs) in enumerate(zip(ids.tolist(), values.tolist())):
        result.append(
            [
                (t, p, "top_k" if flags_k[row][j] else "top_p" if flags_p[row][j] else None)
                for j, (t, p) in enumerate(zip(row_ids, row_probs))
            ]
        )
    return result


def _candidate(tokenizer, cache: dict[int, str], token_id: int, prob: float, cut: str | None) -> Candidate:
    if token_id not in cache:
        cache[token_id] = token_label(tokenizer, token_id)
    return Candidate(token_id, cache[token_id], prob, cut)
