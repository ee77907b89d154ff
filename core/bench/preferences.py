"""`python -m core bench preferences --paths 宋词三百首.json`: does preference tuning on votes move the model the way
the votes point, at what cost in bits per character? (issue 26's target)

The whole loop, as a user would run it, on the CPU: the starter fine-tuned on 宋词 (the parent), its samples on the
prompts of some poems sent to the lab database, a scripted rater's blind votes (it prefers the continuation with
fewer repeated character bigrams; for benchmarks and tests only: it is not a person), the pairs from those votes,
a DPO run of the parent on them, and both models measured on the prompts of other poems (held out): the repeated
bigram rate of their samples (the same seeds) and their bits per character on the dataset's validation text.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from core import models
from core.data import dataset
from core.errors import UserError
from core.models.starter import build_starter
from core.playground.sampling import DecodingConfig, generate
from core.ratings.arena import SPACE_BOUNDS, Arena
from core.train.config import TrainConfig
from core.workspace import Workspace

SAMPLES_PER_PROMPT = 4  # two votes a prompt: (0, 1) and (2, 3)
NEW_TOKENS = 40
SETTING = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0)  # the model's own distribution: what DPO moves


def repeated_rate(text: str, n: int = 2) -> float:
    """Share of the character n-grams of `text` that repeat an earlier one (0 = none repeats)."""
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def _poems(path: Path) -> list[str]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        return ["\n".join(r["paragraphs"]) for r in records if r.get("paragraphs")]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cannot read the poems in {path}: give --paths a chinese-poetry JSON file such as "
                        "宋词三百首.json") from exc


def _generate(workspace, model_name: str, prompts: list[str], seed: int):
    tokenizer, model = models.load(model_name, workspace)
    config = DecodingConfig(name="bench", num_samples=SAMPLES_PER_PROMPT, max_new_tokens=NEW_TOKENS, seed=seed,
                            **SETTING)
    return {prompt: [s.text for s in generate(model, tokenizer, prompt, [config])] for prompt in prompts}


def _bits_per_character(workspace, model_name: str, texts: list[str], block: int = 128) -> float:
    """Validation bits per character: the summed token losses over the texts, in bits, per character."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    tokenizer, model = models.load(model_name, workspace)
    nats, chars = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"][0]
            for start in range(0, len(ids) - 1, block):
                piece = ids[start:start + block + 1].unsqueeze(0)
                if piece.shape[1] < 2:
                    continue
                out = model(piece, labels=piece)
                nats += out.loss.item() * (piece.shape[1] - 1)
            chars += len(text)
    return nats / math.log(2) / max(chars, 1)


def _run(workspace, config, name: str) -> dict:
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.train import runs

    run_dir = runs.start(workspace, config, name=name)
    status = runs.wait(run_dir, poll_s=1.0)
    if status["state"] != "completed":
        raise UserError(f"the bench's run {name} ended {status['state']}: {status.get('error')}")
    return status


def bench_preferences(paths: list[str] | None = None, votes: int = 200, finetune_steps: int = 50,
                      dpo_steps: int = 30, dpo_learning_rate: float = 5e-5, held_out_prompts: int = 30) -> dict:
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.ratings import pairs as preference_pairs
    from core.ratings.schema import SampleRecord
    from core.ratings.store import open_store

    poems = _poems(Path(paths[0] if paths else "../shared/data/zh-poetry/宋词三百首.json"))
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="quill-bench-prefs-")) / "workspace"
    os.environ["QUILL_HOME"] = str(root)  # the runs and the lab database of this bench only
    os.environ.pop("QUILL_DB_URL", None)
    workspace = Workspace(root)
    build_starter(workspace.starter_dir)
    dataset.save(workspace.datasets_dir / "songci", poems, recipe={}, report={})
    validation = dataset.read_texts(workspace.datasets_dir / "songci", "validation")
    common = dict(device="cpu", block_size=64, batch_size=8, gallery_prompts=[], logging_steps=5)
    _run(workspace, TrainConfig(dataset="songci", model="starter", max_steps=finetune_steps, learning_rate=1e-3,
                                eval_steps=finetune_steps, **common), "songci")
    parent = "songci"

    openings = list(dict.fromkeys(p[:4] for p in poems))  # a poem's first four characters, each once
    voted_prompts = openings[: votes // 2]  # two votes each
    held_prompts = openings[votes // 2: votes // 2 + held_out_prompts]
    samples = _generate(workspace, parent, voted_prompts, seed=0)
    cast = 0
    with open_store(workspace.db_url) as store:
        for prompt, texts in samples.items():
            records = [SampleRecord(model=parent, prompt=prompt, text=text, seed=i, source="cli")
                       for i, text in enumerate(texts)]
            ids = store.add_samples(records)
            for a, b in ((0, 1), (2, 3)):
                rate_a, rate_b = repeated_rate(texts[a]), repeated_rate(texts[b])
                store.vote(ids[a], ids[b], "scripted", "a" if rate_a < rate_b else "b" if rate_b < rate_a else "tie")
                cast += 1
        found = preference_pairs.from_votes(store)
    pairs_file = workspace.root / "pairs" / "scripted.jsonl"
    preference_pairs.write(found, pairs_file)
    tuned_status = _run(workspace, TrainConfig(method="dpo", pairs=str(pairs_file), model=parent, max_steps=dpo_steps,
                                               learning_rate=dpo_learning_rate, eval_steps=dpo_steps, **common), "dpo")

    figures = {"votes": cast, "pairs": len(found), "held_out_prompts": len(held_prompts),
               "samples_per_prompt": SAMPLES_PER_PROMPT, "new_tokens": NEW_TOKENS, "finetune_steps": finetune_steps,
               "dpo_steps": dpo_steps, "dpo_learning_rate": dpo_learning_rate,
               "held_out_reward_accuracy": tuned_status.get("final_reward_accuracy")}
    for label, name in (("parent", parent), ("tuned", "dpo")):
        texts = [t for group in _generate(workspace, name, held_prompts, seed=1).values() for t in group]
        figures[f"{label}_repeated_bigram_rate"] = round(sum(map(repeated_rate, texts)) / len(texts), 4)
        figures[f"{label}_bits_per_character"] = round(_bits_per_character(workspace, name, validation), 4)
    figures["bpc_change_pct"] = round(100 * (figures["tuned_bits_per_character"] / figures["parent_bits_per_character"]
                                             - 1), 2)
    figures["seconds"] = round(time.perf_counter() - began, 1)
    return figures


# The arena bench's scripted raters: each prefers the settings nearer its region. "songci" is the first bench's
# (distances in the settings' own units); the others weigh each setting by its range. Each region is 2-4% of the
# arena's space.
REGIONS = {
    "songci": {"temperature": (0.6, 0.9), "repetition_penalty": (1.3, 1.6), "top_p": (0.85, 1.0)},
    "cold": {"temperature": (0.2, 0.5), "top_k": (5, 40), "top_p": (0.5, 0.9)},
    "wide": {"top_k": (120, 200), "top_p": (0.92, 1.0), "temperature": (0.8, 1.6)},
    "penalty": {"repetition_penalty": (1.1, 1.25), "temperature": (1.0, 1.3), "top_k": (50, 200)},
}


def region_distance(settings: dict, region: str) -> float:
    """How far a setting lies from the region (0: inside)."""
    out = 0.0
    for name, (low, high) in REGIONS[region].items():
        span = 1.0 if region == "songci" else SPACE_BOUNDS[name][1] - SPACE_BOUNDS[name][0]
        out += (max(0.0, low - settings[name]) + max(0.0, settings[name] - high)) / span
    return out


def scripted_arena(url: str, region: str, seed: int, votes: int = 60, flipped: float = 0.1) -> dict:
    """A fresh arena in the database at `url` played by a scripted rater that votes for the setting nearer `region`
    (a coin between two equally near) and clicks the other side `flipped` of the time: the vote at which the champion
    first lies inside the region (None: not within `votes`) and whether it still does after the last vote."""
    rng, arena, first = random.Random(seed), Arena("starter", url, seed=seed), None
    for vote in range(1, votes + 1):
        shown = arena.propose("春")
        left, right = region_distance(shown.left, region), region_distance(shown.right, region)
        outcome = "left" if left < right else "right" if right < left else rng.choice(["left", "right"])
        if rng.random() < flipped:
            outcome = "right" if outcome == "left" else "left"
        arena.vote(shown.number, outcome, "scripted")
        champion = arena.champion()
        if first is None and champion and region_distance(champion["settings"], region) == 0:
            first = vote
    return {"found_at": first, "inside_at_the_end": bool(champion and
                                                         region_distance(champion["settings"], region) == 0)}


def bench_arena(seeds: int = 20, votes: int = 60, flipped: float = 0.1) -> dict:
    """`python -m core bench arena`: for each region and seed, a fresh arena and its scripted rater (scripted_arena);
    per region, the seeds whose champion entered the region within `votes`, the median vote it did, and the seeds
    whose champion was still inside after the last vote."""
    began, figures = time.perf_counter(), {"seeds": seeds, "votes": votes, "flipped": flipped, "regions": {}}
    for region in REGIONS:
        played = [scripted_arena(f"sqlite:///{tempfile.mkdtemp(prefix='quill-bench-arena-')}/lab.sqlite", region, seed,
                                 votes, flipped) for seed in range(seeds)]
        found = [p["found_at"] for p in played]
        reached = [f for f in found if f is not None]
        figures["regions"][region] = {
            "bounds": REGIONS[region], "found_at": found, "found_within_votes": len(reached),
            "median_vote": statistics.median(reached) if reached else None,
            "inside_at_the_end": sum(p["inside_at_the_end"] for p in played)}
    figures["seconds"] = round(time.perf_counter() - began, 1)
    return figures
