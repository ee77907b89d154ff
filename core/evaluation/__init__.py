"""Automatic measures of a model and of its samples: perplexity and bits per character (core.evaluation.bits) on a
dataset's validation split (over the same packed blocks training uses), a base-vs-checkpoints table of them, and distinct-n and self-BLEU over a setting's samples.

Perplexity runs through the project's `evaluate` metric module (`core/evaluation/metrics/perplexity`), loaded by path.
Heavy imports (torch, transformers, evaluate) happen inside the functions: pages import this module on every rerun.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core import models
from core.data import dataset
from core.errors import UserError
from core.evaluation import bits
from core.evaluation.metrics import PERPLEXITY
from core.text import units
from core.train.run_dir import RunDir
from core.workspace import Workspace

DEFAULT_MAX_BLOCK = 512  # as the trainer: blocks of min(context, 512) tokens unless told otherwise


# ---- perplexity ---------------------------------------------------------------------------------------------

def load_metric():
    """The perplexity metric module, loaded by path: works offline (evaluate copies it into HF_MODULES_CACHE)."""
    # lazy: evaluate takes ~20 ms to import, and only this path needs it
    import evaluate

    return evaluate.load(str(PERPLEXITY), keep_in_memory=True)  # in memory: no Arrow cache files per call


def context_of(model_name: str, workspace: Workspace | None = None) -> int | None:
    """The model's context length from its config alone (no weights loaded); None when the config does not say."""
    return models.context_length(models.load_config(model_name, workspace))


def perplexity(model_name: str, dataset_name_or_path: str, *, workspace: Workspace | None = None,
               block_size: int | None = None, batch_size: int = 8, split: str = "validation") -> dict:
    """Perplexity of a model on a dataset's split, over its packed blocks of `block_size` tokens (default: the
    smaller of the model's context and 512, as training). Returns perplexity, mean_nll (nats per predicted token),
    tokens (predicted tokens: block_size - 1 per block), bits_per_char and bits_per_byte over the text those tokens
    spell (characters, utf8_bytes), blocks, block_size, and what was measured."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    workspace = workspace or Workspace.from_env()
    data_dir = dataset.resolve(workspace, dataset_name_or_path)
    _check_split(data_dir, split)
    tokenizer, model = models.load(model_name, workspace)
    context = models.context_length(model.config)
    block_size = _check_block_size(block_size or min(context or DEFAULT_MAX_BLOCK, DEFAULT_MAX_BLOCK), context)
    if batch_size < 1:
        raise UserError.coded("eval_batch_size", batch_size=batch_size)
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data import tokens

    packed = tokens.ensure(data_dir, tokenizer).blocks(split, block_size)  # views into the memory-mapped token file
    if not packed:
        raise UserError.coded("eval_split_short", split=split, dataset=dataset_name_or_path, block_size=block_size)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    scores = load_metric().compute(input_ids=packed, model=model, batch_size=batch_size)
    characters, utf8_bytes = bits.TokenText(tokenizer).predicted(packed)
    return {"model": model_name, "dataset": str(dataset_name_or_path), "split": split, "block_size": block_size,
            "blocks": len(packed), **scores, **bits.scores(scores["mean_nll"], scores["tokens"], characters, utf8_bytes)}


def compare(model_names: list[str], dataset_name_or_path: str, *, workspace: Workspace | None = None,
            block_size: int | None = None, batch_size: int = 8, split: str = "validation") -> list[dict]:
    """One `perplexity` row per model, all over blocks of one size (the smallest default among the models), so a
    base model and its checkpoints are measured on the same blocks. Rows of models with another tokenizer count
    other tokens: compare those by bits_per_char, not by perplexity."""
    if not model_names:
        raise UserError.coded("eval_no_model")
    workspace = workspace or Workspace.from_env()
    if block_size is None:
        block_size = min(min(context_of(m, workspace) or DEFAULT_MAX_BLOCK, DEFAULT_MAX_BLOCK) for m in model_names)
    return [perplexity(m, dataset_name_or_path, workspace=workspace, block_size=block_size, batch_size=batch_size,
                       split=split) for m in model_names]


def run_models(run: str, workspace: Workspace | None = None) -> list[str]:
    """The models of a base-vs-checkpoints table for a run: its base model, each checkpoint by step, then final."""
    workspace = workspace or Workspace.from_env()
    run_dir = RunDir(workspace.run_dir(run))  # "no such run" for anything but a run's id
    base = run_dir.config_dict().get("model")
    if not isinstance(base, str):
        raise UserError.coded("eval_run_config", run=run)
    # local_models lists a run's models final first, then checkpoints by step, newest first
    saved = [name for name in models.local_models(workspace) if name.startswith(f"{run}/")]
    return [base, *reversed(saved)]


def _check_split(data_dir: Path, split: str) -> None:
    if split not in ("validation", "data"):
        raise UserError.coded("eval_split_unknown", split=split)
    if not (data_dir / f"{split}.jsonl").is_file():
        raise UserError.coded("eval_split_missing", path=data_dir, split=split)


def _check_block_size(block_size: int, context: int | None) -> int:
    if block_size < 2:
        raise UserError.coded("eval_block_small", block_size=block_size)
    if context and block_size > context:
        raise UserError.coded("eval_block_long", block_size=block_size, context=context)
    return block_size



# ---- diversity of samples -----------------------------------------------------------------------------------

def distinct_n_over(texts: list[str], n: int) -> float:
    """Corpus-level distinct-n (Li et al., 2016): distinct n-grams over all the texts / all their n-grams, in the
    units of `core.evaluation.sample_stats` (words, or characters for Chinese). No n-gram spans two texts. 0.0 when none.
    The n-grams are sacrebleu's own (the ones its BLEU counts), so distinct-n and self-BLEU see the same units."""
    # lazy: sacrebleu takes ~90 ms to import, and only this path needs it
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    grams = Counter()
    for text in texts:
        grams.update(extract_all_word_ngrams(" ".join(units(text)), n, n)[0])
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def self_bleu(texts: list[str], max_n: int = 4) -> float | None:
    """Self-BLEU (Zhu et al., 2018, Texygen): the mean over the texts of each one's BLEU against all the others as
    references, on a 0-1 scale (sacrebleu reports x100). 1.0: the texts are the same; near 0: they share nothing.
    None for fewer than two texts.

    sacrebleu's sentence BLEU on the units of `core.evaluation.sample_stats` (words, or characters for Chinese), joined
    by spaces and not tokenized again: effective order (a text shorter than `max_n` units is scored on the orders it
    has) and its default "exp" smoothing.
    """
    # lazy: sacrebleu takes ~90 ms to import, and only this path needs it
    from sacrebleu.metrics import BLEU

    if len(texts) < 2:
        return None
    bleu = BLEU(tokenize="none", effective_order=True, max_ngram_order=max_n)
    joined = [" ".join(units(text)) for text in texts]
    scores = [bleu.sentence_score(text, joined[:i] + joined[i + 1:]).score / 100 for i, text in enumerate(joined)]
    return sum(scores) / len(scores)
