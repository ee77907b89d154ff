"""After preference tuning: propose the blind A/B between the tuned model and its parent (samples of both on the
run's held-out prompts, sent to the ratings, where the Compare tab offers them), and read its result."""

from __future__ import annotations

from core.playground.sampling import DecodingConfig
from core.ratings.effect import win_rate
from core.train import runs
from core.train.config import PREFERENCE_METHODS, TrainConfig
from core.train.state import RunState
from core.workspace import Workspace

SETTING = dict(do_sample=True, temperature=0.8, top_k=50, top_p=0.95, max_new_tokens=48)  # one setting for both


def tuned_runs(workspace: Workspace) -> list[dict]:
    """Completed preference-tuning runs: {id, parent, pairs}, newest first."""
    out = []
    for run in runs.list_runs(workspace):
        if run["state"] != RunState.COMPLETED:
            continue
        config = TrainConfig.load(workspace.run_dir(run["id"]) / "config.json")
        if config.method in PREFERENCE_METHODS:
            out.append({"id": run["id"], "parent": config.model, "pairs": config.pairs})
    return out


def held_out_prompts(workspace: Workspace, run_id: str, limit: int = 8) -> list[str]:
    """The prompts of the pairs the run held out (it never trained on them), each once."""
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.ratings.pairs import held_out, read

    config = TrainConfig.load(workspace.run_dir(run_id) / "config.json")
    _, held = held_out(read(config.pairs), seed=config.seed)
    return list(dict.fromkeys(p.prompt for p in held))[:limit]


def propose(workspace: Workspace, store, run_id: str, parent: str, samples_per_prompt: int = 2) -> int:
    """Sample the tuned model and its parent on the held-out prompts (the same seeds) and send the samples to the
    ratings; returns how many are new there."""
    # lazy: sqlalchemy, numpy take ~230 ms to import, and only this path needs them
    from core.playground.grid import generate_grid, record_grid

    config = DecodingConfig(name="tuned vs parent", num_samples=samples_per_prompt, **SETTING)
    result = generate_grid([run_id, parent], held_out_prompts(workspace, run_id), [config], workspace=workspace)
    return record_grid(store, result.records).new


def effect(store, run: dict) -> dict:
    return win_rate(store, run["id"], run["parent"])
