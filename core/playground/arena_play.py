"""The settings arena's samples and its outcome in the Playground: a round's two continuations (the same prompt and
seed, the two settings), and the champion saved as a Playground preset, one click from the grid."""

from __future__ import annotations

import re

from core import models
from core.playground import presets
from core.playground.sampling import DecodingConfig, generate
from core.workspace import Workspace

MAX_NEW_TOKENS = 48


def decoding(settings: dict, name: str, seed: int = 0, max_new_tokens: int = MAX_NEW_TOKENS) -> DecodingConfig:
    """An arena setting (core.ratings.arena: sampling, temperature, top-k, top-p, repetition penalty) as a column."""
    return DecodingConfig(name=name, seed=seed, max_new_tokens=max_new_tokens, **settings).validate()


def sample_round(workspace: Workspace, model: str, shown, *, load=None) -> tuple[str, str]:
    """(left, right): the round's prompt continued under its two settings with the round's seed."""
    tokenizer, loaded = (load or (lambda name: models.load(name, workspace)))(model)
    configs = [decoding(shown.left, "left", shown.seed), decoding(shown.right, "right", shown.seed)]
    left, right = generate(loaded, tokenizer, shown.prompt, configs)
    return left.text, right.text


def preset_name(model: str) -> str:
    return "arena-" + re.sub(r"[^\w-]+", "-", model).strip("-")


def save_champion(workspace: Workspace, model: str, settings: dict) -> str:
    """The champion as a Playground preset (`arena-<model>`); returns its name."""
    name = preset_name(model)
    presets.save(workspace, name, [decoding(settings, "arena best")])
    return name
