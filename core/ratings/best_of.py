"""Rated samples back into a dataset (the "best-of" loop): the samples people scored above a bar, or the winners of
blind votes, saved as a workspace dataset (prompt + continuation, one document each) to fine-tune on, with each
document's provenance (sample, model, run, settings, seed, raters, score or votes) in its report."""

from __future__ import annotations

from dataclasses import dataclass

from core.data import dataset
from core.errors import UserError
from core.ratings.pairs import OVERALL, score_of
from core.ratings.rubric import CRITERIA
from core.workspace import Workspace

MODES = ("scores", "winners")  # samples scored at least the bar / samples that won more votes than they lost


@dataclass(frozen=True)
class BestOf:
    name: str
    documents: int
    summary: dict  # the dataset's split (dataset.save)


def chosen_samples(store, *, mode: str = "scores", min_score: float = 4.0, criterion: str = OVERALL,
                   model: str | None = None) -> list[dict]:
    """The samples to keep, each once (a text stored twice is one document), with their provenance."""
    if mode not in MODES:
        raise UserError.coded("best_of_mode", mode=mode, modes=" or ".join(MODES))
    if criterion != OVERALL and criterion not in CRITERIA:
        raise UserError.coded("criterion_unknown", criterion=criterion, overall=OVERALL, criteria=", ".join(CRITERIA))
    kept: dict[tuple, dict] = {}
    if mode == "scores":
        by_sample: dict[int, list[dict]] = {}
        for rating in store.ratings():
            if score_of(rating, criterion) is not None:
                by_sample.setdefault(rating["sample_id"], []).append(rating)
        for sample_id, ratings in by_sample.items():
            mean = sum(score_of(r, criterion) for r in ratings) / len(ratings)
            if mean >= min_score:
                kept[(ratings[0]["prompt"], ratings[0]["text"])] = {
                    **_provenance(ratings[0]), "sample_id": sample_id, "score": round(mean, 3), "criterion": criterion,
                    "raters": sorted({r["rater"] for r in ratings})}
    else:
        samples = {s["id"]: s for s in store.samples()}
        net: dict[int, int] = {}
        raters: dict[int, set] = {}
        for vote in store.comparisons():
            if vote["outcome"] in ("a", "b"):
                win, lose = (vote["sample_a"], vote["sample_b"])[:: 1 if vote["outcome"] == "a" else -1]
                net[win], net[lose] = net.get(win, 0) + 1, net.get(lose, 0) - 1
                raters.setdefault(win, set()).add(vote["rater"])
        for sample_id, balance in net.items():
            if balance > 0:
                sample = samples[sample_id]
                kept[(sample["prompt"], sample["text"])] = {**_provenance(sample), "sample_id": sample_id,
                                                            "net_wins": balance, "raters": sorted(raters[sample_id])}
    return [s for s in kept.values() if model is None or s["model"] == model]


def _provenance(sample: dict) -> dict:
    return {key: sample.get(key) for key in ("model", "checkpoint", "run", "settings", "seed", "prompt", "text")}


def save(store, workspace: Workspace, name: str, **choice) -> BestOf:
    """Write the dataset `name` from the chosen samples; refuses an empty choice and an existing name."""
    samples = chosen_samples(store, **choice)
    if not samples:
        raise UserError.coded("best_of_none")
    name = dataset.check_name(name)
    texts = [s["prompt"] + s["text"] for s in samples]
    report = {"best_of": {**{k: v for k, v in choice.items()}, "documents": len(samples)}, "provenance": samples}
    summary = dataset.save(workspace.datasets_dir / name, texts, recipe={"best_of": choice}, report=report)
    return BestOf(name, len(samples), summary)
