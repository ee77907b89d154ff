"""The starter model: a small, untrained GPT-2 with its own byte-level BPE tokenizer, built offline.

It makes the lab work on a machine with no network: a real model of the real architecture, just small,
trained on nothing yet. Its tokenizer (`core.models.starter_tokenizer`) holds the common Han characters whole and
learns its other merges from the project's sample corpus.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.data.corpus import sample_texts
from core.files import check_replaceable, staged_directory
from core.models.starter_tokenizer import EOS, train_tokenizer

MARKER = "starter.json"  # written last by `build_starter`: what it built, and the files it wrote
WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class StarterConfig:
    vocab_size: int = 21_504  # all tokens: end-of-text, 256 bytes, ~16,000 whole Han characters, learned merges
    n_layer: int = 4  # transformer blocks
    n_embd: int = 256  # hidden width
    n_head: int = 4  # attention heads (width / heads = 64, as in GPT-2)
    n_positions: int = 512  # context length in tokens
    seed: int = 0  # same seed, same weights


def build_model(config: StarterConfig, vocab_size: int, eos_id: int):
    # lazy: torch, transformers take ~2 s to import, and only this path needs them
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(config.seed)
    model_config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    return GPT2LMHeadModel(model_config)


def build_starter(out: Path, config: StarterConfig = StarterConfig()) -> dict:
    """Build the starter into `out` (replacing what is there) and return a short description of it."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the command prints its own one-line summary
    out = Path(out)
    check_replaceable(out, foreign_files)  # before a minute of building, not after
    tokenizer = train_tokenizer(sample_texts(), config.vocab_size)
    model = build_model(config, len(tokenizer), tokenizer.convert_tokens_to_ids(EOS))
    info = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "config": asdict(config),
    }
    # Built beside the target and moved in at the end, so a half-built starter never looks ready.
    with staged_directory(out, foreign_files) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        files = sorted(p.name for p in staging.iterdir())
        (staging / MARKER).write_text(json.dumps({**info, "files": files}, indent=2), encoding="utf-8")
    return info


def is_built(path: Path) -> bool:
    return (Path(path) / "config.json").is_file() and (Path(path) / MARKER).is_file()


def foreign_files(path: Path) -> list[str]:
    """The entries of `path` that `build_starter` did not write: all of them unless it holds a starter."""
    path = Path(path)
    names = sorted(p.name for p in path.iterdir())
    if not (is_built(path) and any((path / name).is_file() for name in WEIGHTS)):
        return names
    try:
        written = json.loads((path / MARKER).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return names
    if not isinstance(written, list):
        return []  # a starter from before the marker listed its files: the markers are all there is to go by
    return [name for name in names if name != MARKER and (name not in written or not (path / name).is_file())]
