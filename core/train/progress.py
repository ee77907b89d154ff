"""What the trainer reports as it goes: log lines and JSONL records (core.files.append_jsonl), written by rank 0 (light: no torch)."""

from __future__ import annotations

import os
import time

MAX_PERPLEXITY_LOSS = 700  # exp() of more overflows a float; such a model has no useful perplexity anyway


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def node_main() -> bool:
    """The first process on this machine: it keeps this machine's status.json (with several machines each has one)."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0"))) == 0


def say(message: str) -> None:
    if node_main():
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
