"""Aggregates over human ratings and blind pairwise votes: pure functions over plain data.

The database layer hands ratings and votes over as lists of dicts; nothing here touches a store,
a file or streamlit. Every result is a list of flat dicts (or a float), ready for a dataframe,
plotly, CSV or JSONL.

- ``criterion_summary``: per group (setting, checkpoint, ...) and criterion, n, mean, a 95%
  t-interval (scipy.stats) and the counts of each score 1..5.
- ``bradley_terry``: a Bradley–Terry ranking of items from A/B votes (choix), with 95%
  percentile-bootstrap intervals.
- ``mean_score``: per group, one score (the average of its criteria means) and its number of ratings.
- ``krippendorff_alpha``: inter-rater agreement on one criterion, ordinal level (krippendorff).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

from core.ratings.rubric import CRITERIA, OUTCOMES, SCORES

CONFIDENCE = 0.95


# --------------------------------------------------------------------------- helpers


def _score(value: Any, criterion: str) -> int | None:
    """A score 1..5 as int, or None when unrated. Whole floats (4.0, as some drivers return) pass."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{criterion}: score must be 1..5 or None, got {value!r}")
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return None
    if value != int(value) or int(value) not in SCORES:
        raise ValueError(f"{criterion}: score must be 1..5 or None, got {value!r}")
    return int(value)


def _latest_per_rater(ratings: Iterable[dict]) -> list[dict]:
    """One rating per (sample_id, rater): the last one in list order wins.

    A rater may revise a score; if the store hands over every revision, counting each would weigh
    that rater's view of the sample twice. Rows without a sample_id or rater are kept as they are.
    """
    kept: dict[Any, dict] = {}
    for i, r in enumerate(ratings):
        sid, rater = r.get("sample_id"), r.get("rater")
        key = ("row", i) if sid is None or rater is None else ("sr", sid, rater)
        kept.pop(key, None)  # re-insert so the surviving row sits at its latest position
        kept[key] = r
    return list(kept.values())


# --------------------------------------------------------------------------- per-criterion means


def mean_ci(scores: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) with a two-sided t-interval: mean ± t(1-(1-c)/2, n-1) · s/√n.

    n = 0 → (None, None, None); n = 1 → (mean, None, None): one score has no spread to estimate.
    All scores equal (s = 0) → the interval collapses to the mean. The interval is not clipped to
    the 1..5 scale: it is the t-interval as computed, so a page may show e.g. 5.3 as the upper end.
    """
    # lazy: scipy takes ~80 ms to import, and only this path needs it
    from scipy import stats

    n = len(scores)
    if n == 0:
        return None, None, None
    arr = np.asarray(scores, dtype=float)
    mean = float(arr.mean())
    if n == 1:
        return mean, None, None
    sem = float(stats.sem(arr))  # sample sd (ddof=1) / √n
    if sem == 0.0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, df=n - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


def bootstrap_mean_ci(
    scores: Sequence[float], confidence: float = CONFIDENCE, n_boot: int = 2000, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) with a percentile-bootstrap interval (scipy.stats.bootstrap, fixed seed).

    Every resampled mean lies between the smallest and largest score, so on a 1..5 scale the interval stays
    within 1..5, unlike a t-interval on a few skewed scores (e.g. 0.79 for scores of 1 and 2).
    n = 0 → (None, None, None); n = 1 → (mean, None, None); all scores equal → the mean itself.
    """
    # lazy: scipy takes ~80 ms to import, and only this path needs it
    from scipy import stats

    arr = np.asarray(scores, dtype=float)
    if len(arr) == 0:
        return None, None, None
    mean = float(arr.mean())
    if len(arr) == 1:
        return mean, None, None
    if np.all(arr == arr[0]):
        return mean, mean, mean
    result = stats.bootstrap((arr,), np.mean, confidence_level=confidence, n_resamples=n_boot,
                             method="percentile", rng=np.random.default_rng(seed))
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high)


INTERVALS = {"bootstrap": bootstrap_mean_ci, "t": mean_ci}


def criterion_summary(
    ratings: list[dict],
    by: str | Sequence[str],
    criteria: Sequence[str] = CRITERIA,
    interval: str = "bootstrap",
) -> list[dict]:
    """Per group and criterion: n, mean, sd, a 95% interval and the count of each score 1..5.

    ``interval``: "bootstrap" (percentile bootstrap, within 1..5; the default) or "t" (a t-interval).

    ``ratings``: dicts with ``sample_id``, ``rater``, the criteria (1..5 or None = not scored) and
    the grouping key(s) named by ``by`` (e.g. ``"setting"``, ``"checkpoint"``, or a tuple of both).
    A rater's revisions of the same sample count once (the last in list order).

    Returns one dict per (group, criterion), groups in order of first appearance, criteria in the
    given order::

        {<by>: group value, "criterion": str, "n": int, "mean": float | None, "sd": float | None,
         "ci_low": float | None, "ci_high": float | None,
         "count_1": int, ..., "count_5": int}

    ``n`` counts non-None scores; n = 0 → mean/sd/interval None; n = 1 → no interval (None).
    A missing grouping key groups under None.
    """
    keys = (by,) if isinstance(by, str) else tuple(by)
    if not keys:
        raise ValueError("by: name at least one grouping key")
    groups: dict[tuple, dict[str, list[int]]] = {}
    for r in _latest_per_rater(ratings):
        g = tuple(r.get(k) for k in keys)
        per = groups.setdefault(g, {c: [] for c in criteria})
        for c in criteria:
            s = _score(r.get(c), c)
            if s is not None:
                per[c].append(s)

    out: list[dict] = []
    for g, per in groups.items():
        for c in criteria:
            scores = per[c]
            mean, low, high = INTERVALS[interval](scores)
            sd = float(np.std(scores, ddof=1)) if len(scores) > 1 else None
            row: dict[str, Any] = dict(zip(keys, g))
            row.update(criterion=c, n=len(scores), mean=mean, sd=sd, ci_low=low, ci_high=high)
            for s in SCORES:
                row[f"count_{s}"] = scores.count(s)
            out.append(row)
    return out


def mean_score(ratings: list[dict], by: str, criteria: Sequence[str] = CRITERIA) -> dict[Hashable, dict]:
    """Per group: one mean human score, the average of its criteria means (as the model card's best setting), and
    how many ratings it rests on: ``{group: {"score": float, "ratings": int}}``; a group with no score is left out."""
    counts: dict[Hashable, int] = {}
    for r in _latest_per_rater(ratings):
        counts[r.get(by)] = counts.get(r.get(by), 0) + 1
    means: dict[Hashable, list[float]] = {}
    for row in criterion_summary(ratings, by=by, criteria=criteria, interval="t"):
        if row["mean"] is not None:
            means.setdefault(row[by], []).append(row["mean"])
    return {group: {"score": sum(m) / len(m), "ratings": counts[group]} for group, m in means.items()}


# --------------------------------------------------------------------------- Bradley–Terry


def _pairs(votes: Sequence[tuple[int, int, str]]) -> tuple[list[tuple[int, int]], int]:
    """choix (winner, loser) tuples for the votes, and the factor each vote was repeated by.

    choix takes unweighted (winner, loser) pairs, so "a tie is half a win each way" is written,
    when there are ties, as: decisive vote → 2 pairs, tie → 1 pair each direction. The likelihood
    is then exactly twice the half-weighted one; ``_fit`` multiplies alpha by the same factor, so
    the estimate is unchanged. Without ties each vote is one pair (half the work).
    """
    factor = 2 if any(o == "tie" for _, _, o in votes) else 1
    pairs: list[tuple[int, int]] = []
    for ia, ib, outcome in votes:
        if outcome == "a":
            pairs += [(ia, ib)] * factor
        elif outcome == "b":
            pairs += [(ib, ia)] * factor
        else:  # tie
            pairs += [(ia, ib), (ib, ia)]
    return pairs, factor


def _fit(
    n_items: int,
    votes: Sequence[tuple[int, int, str]],
    alpha: float,
    init: np.ndarray | None = None,
    tol: float = 1e-8,
) -> np.ndarray:
    """Log-strengths (mean 0) by choix's ILSR; choix's MAP optimiser if ILSR does not converge.

    ``init``/``tol``: the bootstrap starts each refit from the point estimate and stops at a looser
    tolerance (strengths are shown to 2 decimals).
    """
    # lazy: choix takes ~710 ms to import, and only this path needs it
    import choix

    pairs, factor = _pairs(votes)
    try:
        # ILSR is ~20x faster than opt_pairwise here (it matters for 200 bootstrap refits). Its alpha
        # is a rate added to every link of the Markov chain; scaling data and alpha together scales
        # the chain and leaves its stationary distribution (the estimate) as it was.
        params = choix.ilsr_pairwise(
            n_items, pairs, alpha=factor * alpha, initial_params=init, max_iter=1000, tol=tol
        )
    except (RuntimeError, ValueError):
        # Rare (a resample with a lopsided graph): the Gaussian-prior MAP is convex, always defined.
        params = choix.opt_pairwise(n_items, pairs, alpha=factor * alpha)
    params = np.asarray(params, dtype=float)
    return params - params.mean()


def bradley_terry(
    votes: list[dict],
    *,
    alpha: float = 0.1,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> list[dict]:
    """Rank items (settings, checkpoints, ...) by Bradley–Terry strength from blind A/B votes.

    ``votes``: dicts ``{"a": item, "b": item, "outcome": "a" | "b" | "tie" | "both_bad"}``; items
    are any hashable labels. How votes count:

    - ``"a"`` / ``"b"``: one win for that side.
    - ``"tie"``: half a win each way (both are equally good — evidence their strengths are close).
    - ``"both_bad"``: ignored — it says both fall short of a bar, nothing about which is better.
    - ``a == b`` (two samples of the same item): ignored, it carries nothing about the ranking.

    Only items in at least one counted vote are ranked; no counted votes → ``[]``.

    The fit is choix's ILSR with a small regularisation ``alpha`` (a pseudo-comparison rate between
    every pair), so strengths stay finite with few votes or an item that never lost. Strengths are
    log-strengths centred on 0: P(i beats j) = 1 / (1 + exp(s_j - s_i)).

    Intervals: percentile bootstrap over votes — ``n_boot`` resamples (with replacement, fixed
    ``seed``), refit, the (1-c)/2 and 1-(1-c)/2 quantiles of each item's strength. ``n_boot=0``
    gives no intervals (None). An item missing from a resample sits at the strength the
    regularisation alone gives it there.

    Returns, best first::

        {"rank": 1.., "item": label, "strength": float, "ci_low": float | None,
         "ci_high": float | None, "wins": float, "losses": float, "ties": int, "votes": int}

    ``wins``/``losses`` count a tie as half of each; ``won``/``lost`` count decisive votes only, so that a table
    with ``ties`` beside them counts each tie once; ``votes`` is the counted votes with the item.
    """
    items: list[Hashable] = []
    index: dict[Hashable, int] = {}
    counted: list[tuple[int, int, str]] = []
    for v in votes:
        outcome = v.get("outcome")
        if outcome not in OUTCOMES:
            raise ValueError(f"vote outcome must be one of {OUTCOMES}, got {outcome!r}")
        a, b = v["a"], v["b"]
        if outcome == "both_bad" or a == b:
            continue
        for it in (a, b):
            if it not in index:
                index[it] = len(items)
                items.append(it)
        counted.append((index[a], index[b], outcome))
    if not counted:
        return []

    n = len(items)
    strength = _fit(n, counted, alpha)

    low = high = [None] * n
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        draws = np.empty((n_boot, n))
        for k in range(n_boot):
            pick = rng.integers(0, len(counted), size=len(counted))
            draws[k] = _fit(n, [counted[i] for i in pick], alpha, init=strength, tol=1e-6)
        tail = (1 - confidence) / 2
        low = np.quantile(draws, tail, axis=0).tolist()
        high = np.quantile(draws, 1 - tail, axis=0).tolist()

    wins = [0.0] * n
    losses = [0.0] * n
    ties = [0] * n
    seen = [0] * n
    for ia, ib, outcome in counted:
        seen[ia] += 1
        seen[ib] += 1
        if outcome == "tie":
            ties[ia] += 1
            ties[ib] += 1
            for i in (ia, ib):
                wins[i] += 0.5
                losses[i] += 0.5
        else:
            winner, loser = (ia, ib) if outcome == "a" else (ib, ia)
            wins[winner] += 1
            losses[loser] += 1

    order = sorted(range(n), key=lambda i: -strength[i])  # stable: equal strengths keep first-seen order
    return [
        {
            "rank": r,
            "item": items[i],
            "strength": float(strength[i]),
            "ci_low": low[i],
            "ci_high": high[i],
            "wins": wins[i],
            "losses": losses[i],
            "ties": ties[i],
            "won": wins[i] - ties[i] / 2,  # decisive wins only: each tie is counted once, under ties
            "lost": losses[i] - ties[i] / 2,
            "votes": seen[i],
        }
        for r, i in enumerate(order, start=1)
    ]


# --------------------------------------------------------------------------- agreement


def krippendorff_alpha(ratings: list[dict], criterion: str, level: str = "ordinal") -> float | None:
    """Krippendorff's alpha for one criterion across raters (``krippendorff`` package, ordinal).

    Only samples scored on ``criterion`` by two or more raters count (a lone score has nothing to
    agree with); a rater's revisions count once (the last in list order). 1 = perfect agreement,
    0 = chance level, below 0 = systematic disagreement.

    None when alpha is undefined: no sample has two raters' scores on this criterion, or every
    such score is the same value (no variation, so agreement cannot be told apart from chance).
    """
    # lazy: krippendorff takes ~70 ms to import, and only this path needs it
    import krippendorff

    by_sample: dict[Any, dict[Any, int]] = {}
    for r in _latest_per_rater(ratings):
        s = _score(r.get(criterion), criterion)
        if s is None or r.get("sample_id") is None or r.get("rater") is None:
            continue
        by_sample.setdefault(r["sample_id"], {})[r["rater"]] = s
    shared = {sid: per for sid, per in by_sample.items() if len(per) >= 2}
    if not shared:
        return None
    raters = sorted({rt for per in shared.values() for rt in per}, key=str)
    data = np.full((len(raters), len(shared)), np.nan)
    for j, per in enumerate(shared.values()):
        for i, rt in enumerate(raters):
            if rt in per:
                data[i, j] = per[rt]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(
            krippendorff.alpha(reliability_data=data, value_domain=list(SCORES), level_of_measurement=level)
        )
    return None if math.isnan(value) else value


# Krippendorff (2004, Content Analysis, 2nd ed., p. 241): rely on variables with alpha >= .800, draw tentative
# conclusions from .667 <= alpha < .800, and discard lower ones.
ALPHA_RELIABLE = 0.8
ALPHA_TENTATIVE = 2 / 3


def alpha_reading(alpha: float | None) -> str | None:
    """Krippendorff's own reading of an alpha: "reliable", "tentative" or "unreliable"; None when alpha is None."""
    if alpha is None:
        return None
    if alpha >= ALPHA_RELIABLE:
        return "reliable"
    return "tentative" if alpha >= ALPHA_TENTATIVE else "unreliable"


def alpha_per_rater(ratings: list[dict], criteria: Iterable[str] = CRITERIA, level: str = "ordinal") -> dict:
    """Each rater's agreement with the others: Krippendorff's alpha (``krippendorff``) between the rater's scores and
    the median of the other raters' scores, over every (sample, criterion) that both scored.

    Two coders per unit (the rater, the others' consensus), so one careless or contrary rater shows as their own low
    alpha instead of only lowering everyone's. None for a rater who shares no scored sample with another, or when
    there is no variation to tell agreement from chance.
    """
    # lazy: krippendorff takes ~70 ms to import, and only this path needs it
    import krippendorff

    scores: dict[Any, dict[Any, dict[str, int]]] = {}  # sample -> rater -> criterion -> score
    for r in _latest_per_rater(ratings):
        if r.get("sample_id") is None or r.get("rater") is None:
            continue
        for c in criteria:
            s = _score(r.get(c), c)
            if s is not None:
                scores.setdefault(r["sample_id"], {}).setdefault(r["rater"], {})[c] = s
    raters = sorted({rt for per in scores.values() for rt in per}, key=str)
    out: dict = {}
    for rater in raters:
        mine, others = [], []
        for per in scores.values():
            for c, s in per.get(rater, {}).items():
                rest = [p[c] for rt, p in per.items() if rt != rater and c in p]
                if rest:
                    mine.append(s)
                    others.append(float(np.median(rest)))
        value = float("nan")
        if mine:
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                # interval-free medians (x.5) are outside the 1-5 value domain; let the package infer the domain
                value = float(krippendorff.alpha(reliability_data=np.array([mine, others]), level_of_measurement=level))
        out[rater] = None if math.isnan(value) else value
    return out


def rater_progress(rater, ratings: list[dict], votes: list[dict]) -> dict:
    """What one rater did: samples rated, A/B votes cast, and when they first and last did either."""
    mine = [r for r in _latest_per_rater(ratings) if r.get("rater") == rater]
    cast = [v for v in votes if v.get("rater") == rater]
    times = [r["updated"] for r in mine if r.get("updated")] + [r["created"] for r in mine if r.get("created")]
    times += [v["created"] for v in cast if v.get("created")]
    return {"rater": rater, "rated": len({r["sample_id"] for r in mine}), "votes": len(cast),
            "first": min(times) if times else None, "last": max(times) if times else None}


def best_setting(ratings: list[dict]) -> dict | None:
    """The decoding setting whose criteria means average highest: {"config_name", "settings", "score"}."""
    means: dict[str, list[float]] = {}
    for row in criterion_summary(ratings, by="config_name"):
        if row["mean"] is not None:
            means.setdefault(row["config_name"], []).append(row["mean"])
    if not means:
        return None
    winner = max(means, key=lambda k: sum(means[k]) / len(means[k]))
    settings = next((r.get("settings") for r in ratings if r.get("config_name") == winner and r.get("settings")), {})
    return {"config_name": winner, "settings": settings or {}, "score": sum(means[winner]) / len(means[winner])}
