"""Where the settings arena's next challenger comes from: a step from the champion, learned from the votes.

A (1+1) evolution strategy over the arena's space scaled to the unit cube: the challenger is the champion moved by a
Gaussian step in every dimension; the step widens after a challenger took the champion's place and narrows after
one that did not (after Rechenberg's success rule: here it settles where about one challenger in four wins), and a
challenger that lost outright is followed by the opposite step (mirrored sampling: where one side is worse, the
other is likely better). Written here because no library we have proposes from a handful of pairwise votes:
Optuna's TPE with so few observations is close to random (the arena's first version, TPE told a ladder value, found
a 3% region within 60 noisy votes in 5 of 6 seeds), and its CMA-ES needs a generation of numeric values per update.
optuna-dashboard's preferential optimization (a Gaussian process over the votes) would be a new dependency with its
own storage layout; it was not tried. The constants were chosen on a simulation of scripted raters (BENCHMARKS.md).

Pure functions over plain data: the steps and their outcomes are stored with the trials (core.ratings.arena), so a
restarted server proposes what it would have proposed.
"""

from __future__ import annotations

import random

FIRST_STEP = 0.3  # the first step's standard deviation, in units of each dimension's range
WIDER, NARROWER = 1.6, 0.85  # after a challenger won its place, after one that did not
SMALLEST, LARGEST = 0.03, 0.5


def to_unit(params: dict, bounds: dict) -> dict:
    return {name: (params[name] - low) / (high - low) for name, (low, high) in bounds.items()}


def from_unit(point: dict, bounds: dict) -> dict:
    """Unit coordinates as parameters, clipped into the space (a region on its edge stays reachable); top-k whole."""
    params = {}
    for name, (low, high) in bounds.items():
        value = low + min(1.0, max(0.0, point[name])) * (high - low)
        params[name] = int(round(value)) if isinstance(low, int) else round(value, 3)
    return params


def centre(bounds: dict) -> dict:
    """The middle of the space: the opening round's first setting (the other is drawn at random)."""
    return from_unit({name: 0.5 for name in bounds}, bounds)


def step_size(results: list[int]) -> float:
    """The step's standard deviation after these challenges (1: took the champion's place, else 0 or -1)."""
    size = FIRST_STEP
    for result in results:
        size = min(LARGEST, size * WIDER) if result == 1 else max(SMALLEST, size * NARROWER)
    return size


def next_step(champion: dict, bounds: dict, history: list[dict], rng: random.Random) -> tuple[dict, dict]:
    """(the challenger's parameters, its step) for `champion`'s parameters. `history`: the earlier challenges in
    order, each {"result": 1, 0 or -1, "step": its step or None, "champion": the trial it challenged}; a step is
    {"delta": {name: unit offset}, "mirrored": bool, "champion": the champion's trial}."""
    here = to_unit(champion["params"], bounds)
    last = history[-1] if history else None
    if (last and last["result"] == -1 and last["step"] and not last["step"]["mirrored"]
            and last["step"]["champion"] == champion["trial"]):
        delta = {name: -offset for name, offset in last["step"]["delta"].items()}
        mirrored = True
    else:
        size = step_size([h["result"] for h in history])
        delta = {name: rng.gauss(0.0, size) for name in bounds}
        mirrored = False
    params = from_unit({name: here[name] + delta[name] for name in bounds}, bounds)
    return params, {"delta": delta, "mirrored": mirrored, "champion": champion["trial"]}
