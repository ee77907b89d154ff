"""`python -m core bench sample`: one batched decode of a settings grid against one `model.generate` call per setting.

The grid is the playground's default one (greedy, top-k 50, top-p 0.9, temperature 1.2), 4 samples per setting,
64 new tokens, on the starter model. Batched: one `sampling.generate` call for all 16 rows. Sequential: one
`model.generate` call per setting with `num_return_sequences=4` (greedy, which `generate` refuses to combine with
`num_return_sequences`, gets the prompt 4 times instead: the same batch of 4 rows). Each side is warmed up once,
then timed 3 times; the best time counts.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from core import models
from core.models.starter import build_starter
from core.playground import sampling
from core.workspace import Workspace

PROMPT = "The old lighthouse keeper opened the door and"
SAMPLES = 4
NEW_TOKENS = 64
REPEATS = 3


def bench_sample(samples: int = SAMPLES, new_tokens: int = NEW_TOKENS, repeats: int = REPEATS) -> dict:
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    configs = [replace(c, num_samples=samples, max_new_tokens=new_tokens) for c in sampling.DEFAULT_CONFIGS]
    device = "cuda" if torch.cuda.is_available() else "cpu"

    with tempfile.TemporaryDirectory(prefix="quill-bench-sample-") as tmp:
        starter = Workspace.from_env().starter_dir
        if not (starter / "config.json").is_file():
            starter = Path(tmp) / "starter"
            build_starter(starter)
        tokenizer, model = models.load(str(starter))
    model.to(device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def batched() -> int:
        rows = sampling.generate(model, tokenizer, PROMPT, configs)
        return sum(len(row.token_ids) for row in rows)

    inputs = tokenizer(PROMPT, return_tensors="pt").to(device)
    eos = tokenizer.eos_token_id

    def sequential() -> int:
        tokens = 0
        for config in configs:
            options = {"do_sample": False}
            if config.do_sample:
                options = {"do_sample": True, "temperature": config.temperature, "top_k": config.top_k,
                           "top_p": config.top_p, "num_return_sequences": config.num_samples}
            prompt = {k: v.repeat(1 if config.do_sample else config.num_samples, 1) for k, v in inputs.items()}
            torch.manual_seed(config.seed)
            with torch.inference_mode():
                out = model.generate(
                    **prompt, **options, max_new_tokens=config.max_new_tokens, pad_token_id=eos,
                    repetition_penalty=config.repetition_penalty, no_repeat_ngram_size=config.no_repeat_ngram_size,
                )
            for row in out[:, inputs["input_ids"].shape[1]:].tolist():  # up to and with the first end-of-text
                tokens += row.index(eos) + 1 if eos in row else len(row)
        return tokens

    def best_of(fn) -> tuple[float, int]:
        fn()  # warm-up: first-call allocations, kernel choice, lazy imports
        best, tokens = float("inf"), 0
        for _ in range(repeats):
            sync()
            started = time.perf_counter()
            tokens = fn()
            sync()
            best = min(best, time.perf_counter() - started)
        return best, tokens

    batched_seconds, batched_tokens = best_of(batched)
    sequential_seconds, sequential_tokens = best_of(sequential)
    batched_seconds, sequential_seconds = round(batched_seconds, 4), round(sequential_seconds, 4)
    return {
        "batched_seconds": batched_seconds,
        "sequential_seconds": sequential_seconds,
        "speedup": round(sequential_seconds / batched_seconds, 3),  # of the printed figures, so it can be checked
        "batched_tokens": batched_tokens,
        "sequential_tokens": sequential_tokens,
        "settings": [c.name for c in configs],
        "samples_per_setting": samples,
        "max_new_tokens": new_tokens,
        "timing": f"best of {repeats} after 1 warm-up",
        "model": "starter",
        "parameters": model.num_parameters(),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
    }
