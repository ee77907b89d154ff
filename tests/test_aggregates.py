"""Aggregates on hand-made ratings and votes whose answers are known."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from core.ratings.aggregates import (
    alpha_reading,
    bootstrap_mean_ci,
    bradley_terry,
    criterion_summary,
    krippendorff_alpha,
    mean_ci,
    mean_score,
)


def _r(sample_id, rater, setting, **scores):
    return {"sample_id": sample_id, "rater": rater, "setting": setting, "checkpoint": "ckpt-1", **scores}


# --------------------------------------------------------------------------- criterion_summary


def test_mean_and_t_interval_by_hand():
    ratings = [_r(i, "ann", "warm", fluency=s) for i, s in enumerate([4, 4, 5, 5])]
    row = next(x for x in criterion_summary(ratings, by="setting", interval="t") if x["criterion"] == "fluency")
    # by hand: mean 4.5, sd = sqrt(((.5²)·4)/3) = sqrt(1/3), half-width = t(0.975, 3) · sd / √4
    half = stats.t.ppf(0.975, 3) * math.sqrt(1 / 3) / 2
    assert row["setting"] == "warm" and row["n"] == 4
    assert row["mean"] == pytest.approx(4.5)
    assert row["sd"] == pytest.approx(math.sqrt(1 / 3))
    assert row["ci_low"] == pytest.approx(4.5 - half)
    assert row["ci_high"] == pytest.approx(4.5 + half)
    assert half == pytest.approx(0.9187, abs=1e-3)  # t(0.975, 3) = 3.182
    assert [row[f"count_{s}"] for s in range(1, 6)] == [0, 0, 0, 2, 2]


def test_groups_criteria_distribution_and_missing_scores():
    ratings = [
        _r(1, "ann", "warm", fluency=1, coherence=3, style=None, repetition=5),
        _r(2, "ann", "warm", fluency=3, coherence=3, style=None, repetition=5),
        _r(3, "ann", "cold", fluency=2, coherence=None, style=4, repetition=None),
        _r(4, "bob", "warm", fluency=3, coherence=3, style=None),  # repetition key absent → unscored
    ]
    rows = criterion_summary(ratings, by="setting")
    assert [(r["setting"], r["criterion"]) for r in rows] == [
        (s, c) for s in ("warm", "cold") for c in ("fluency", "coherence", "style", "repetition")
    ]
    get = {(r["setting"], r["criterion"]): r for r in rows}
    flu = get["warm", "fluency"]
    assert flu["n"] == 3 and flu["mean"] == pytest.approx(7 / 3)
    assert [flu[f"count_{s}"] for s in range(1, 6)] == [1, 0, 2, 0, 0]
    # all equal → interval collapses to the mean
    coh = get["warm", "coherence"]
    assert (coh["mean"], coh["ci_low"], coh["ci_high"]) == (3.0, 3.0, 3.0)
    # no scores → n 0, no mean
    sty = get["warm", "style"]
    assert sty["n"] == 0 and sty["mean"] is None and sty["ci_low"] is None and sty["count_4"] == 0
    # n = 1 → a mean but no interval
    one = get["cold", "style"]
    assert one["n"] == 1 and one["mean"] == 4.0 and one["ci_low"] is None and one["ci_high"] is None
    assert one["sd"] is None


def test_group_by_several_keys_and_custom_criteria():
    ratings = [
        {"sample_id": 1, "rater": "a", "setting": "warm", "checkpoint": "c1", "surprise": 2},
        {"sample_id": 2, "rater": "a", "setting": "warm", "checkpoint": "c2", "surprise": 4},
        {"sample_id": 3, "rater": "a", "setting": "warm", "checkpoint": "c2", "surprise": 5},
    ]
    rows = criterion_summary(ratings, by=("setting", "checkpoint"), criteria=("surprise",))
    assert [(r["setting"], r["checkpoint"], r["n"], r["mean"]) for r in rows] == [
        ("warm", "c1", 1, 2.0),
        ("warm", "c2", 2, 4.5),
    ]


def test_revised_score_counts_once():
    ratings = [_r(1, "ann", "warm", fluency=2), _r(2, "ann", "warm", fluency=4), _r(1, "ann", "warm", fluency=5)]
    row = criterion_summary(ratings, by="setting", criteria=("fluency",))[0]
    assert row["n"] == 2 and row["mean"] == pytest.approx(4.5)


def test_mean_score_averages_the_criteria_means_per_group():
    """A sweep's trials are ranked by it: criteria means averaged (a half-scored rating weighs its criteria alone),
    a revision counts once, an unscored group is left out."""
    ratings = [_r(1, "ann", "warm", fluency=5, style=3), _r(2, "bo", "warm", fluency=3),
               _r(3, "ann", "cold", fluency=1), _r(3, "ann", "cold", fluency=2, style=2), _r(4, "ann", "none")]
    scores = mean_score(ratings, by="setting", criteria=("fluency", "style"))
    assert scores == {"warm": {"score": pytest.approx((4 + 3) / 2), "ratings": 2},
                      "cold": {"score": pytest.approx(2), "ratings": 1}}


@pytest.mark.parametrize("bad", [0, 6, 2.5, "4", True])
def test_out_of_range_score_is_refused(bad):
    with pytest.raises(ValueError, match="fluency"):
        criterion_summary([_r(1, "ann", "warm", fluency=bad)], by="setting")


def test_mean_ci_edges():
    assert mean_ci([]) == (None, None, None)
    assert mean_ci([3]) == (3.0, None, None)
    m, lo, hi = mean_ci([1, 2, 3, 4, 5])
    assert m == 3.0 and lo == pytest.approx(3 - stats.t.ppf(0.975, 4) * stats.sem([1, 2, 3, 4, 5]))


# --------------------------------------------------------------------------- Bradley–Terry


def _votes(a, b, a_wins, b_wins):
    return [{"a": a, "b": b, "outcome": "a"}] * a_wins + [{"a": a, "b": b, "outcome": "b"}] * b_wins


def test_bradley_terry_order_and_intervals():
    votes = _votes("A", "B", 8, 2) + _votes("B", "C", 8, 2) + _votes("C", "A", 1, 9)  # A beats C 9–1
    votes += [{"a": "A", "b": "C", "outcome": "both_bad"}] * 5  # ignored
    rows = bradley_terry(votes)
    assert [r["item"] for r in rows] == ["A", "B", "C"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    s = [r["strength"] for r in rows]
    assert s[0] > s[1] > s[2]
    assert sum(s) == pytest.approx(0, abs=1e-9)  # centred log-strengths
    for r in rows:
        assert r["ci_low"] <= r["strength"] <= r["ci_high"]
        assert r["ci_low"] < r["ci_high"]
    a = rows[0]
    assert (a["wins"], a["losses"], a["ties"], a["votes"]) == (17, 3, 0, 20)
    # the same seed gives the same intervals; another seed differs
    assert bradley_terry(votes) == rows
    assert bradley_terry(votes, seed=1) != rows


def test_bradley_terry_ties_are_half_a_win():
    # 6 decisive votes A>B and 4 ties: A has 8 of 10 "points" — the same estimate as 8–2 outright,
    # because a tie is half a win each way.
    with_ties = _votes("A", "B", 6, 0) + [{"a": "A", "b": "B", "outcome": "tie"}] * 4
    outright = _votes("A", "B", 8, 2)
    t = {r["item"]: r for r in bradley_terry(with_ties, n_boot=0)}
    o = {r["item"]: r for r in bradley_terry(outright, n_boot=0)}
    assert t["A"]["strength"] == pytest.approx(o["A"]["strength"], abs=1e-5)
    assert (t["A"]["wins"], t["A"]["losses"], t["A"]["ties"]) == (8.0, 2.0, 4)
    assert t["A"]["ci_low"] is None  # n_boot=0 → no intervals


def test_bradley_terry_few_votes_stays_finite_and_edges():
    rows = bradley_terry([{"a": "x", "b": "y", "outcome": "a"}])  # unbeaten with one vote: MLE would be ∞
    assert [r["item"] for r in rows] == ["x", "y"]
    assert all(math.isfinite(r["strength"]) and math.isfinite(r["ci_high"]) for r in rows)
    assert bradley_terry([]) == []
    assert bradley_terry([{"a": "x", "b": "y", "outcome": "both_bad"}]) == []
    assert bradley_terry([{"a": "x", "b": "x", "outcome": "a"}]) == []  # same item on both sides
    with pytest.raises(ValueError, match="outcome"):
        bradley_terry([{"a": "x", "b": "y", "outcome": "draw"}])


# --------------------------------------------------------------------------- Krippendorff's alpha


def test_alpha_perfect_agreement():
    ratings = [_r(i, rt, "warm", fluency=s) for i, s in enumerate([1, 3, 5, 2]) for rt in ("ann", "bob", "cy")]
    assert krippendorff_alpha(ratings, "fluency") == pytest.approx(1.0)


def test_alpha_krippendorff_textbook_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units,
    # with missing data. Published: nominal .743, ordinal .815, interval .849.
    table = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    ratings = [
        {"sample_id": u, "rater": rt, "coherence": s} for rt, row in table.items() for u, s in enumerate(row)
    ]
    assert krippendorff_alpha(ratings, "coherence") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(ratings, "coherence", level="nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(ratings, "coherence", level="interval") == pytest.approx(0.849, abs=5e-4)


def test_alpha_full_disagreement_is_negative():
    # Two raters, binary scale, opposite on each of 4 samples. Pairable values: four 1s, four 2s.
    # D_o = 1 (every pair disagrees); D_e = 2·4·4 / (8·7) = 4/7 → alpha = 1 - 7/4 = -0.75.
    ratings = [_r(i, "ann", "w", style=a) for i, a in enumerate([1, 2, 1, 2])]
    ratings += [_r(i, "bob", "w", style=b) for i, b in enumerate([2, 1, 2, 1])]
    assert krippendorff_alpha(ratings, "style") == pytest.approx(-0.75)


def test_alpha_none_without_overlap():
    one_rater = [_r(i, "ann", "w", fluency=s) for i, s in enumerate([1, 2, 3])]
    assert krippendorff_alpha(one_rater, "fluency") is None
    # two raters but on different samples → nothing pairable
    apart = [_r(1, "ann", "w", fluency=2), _r(2, "bob", "w", fluency=4)]
    assert krippendorff_alpha(apart, "fluency") is None
    # overlap exists but the other rater left this criterion unscored
    unscored = [_r(1, "ann", "w", fluency=2), _r(1, "bob", "w", fluency=None)]
    assert krippendorff_alpha(unscored, "fluency") is None
    # every pairable score identical: agreement can't be told from chance → undefined
    same = [_r(i, rt, "w", fluency=4) for i in range(3) for rt in ("ann", "bob")]
    assert krippendorff_alpha(same, "fluency") is None


def test_alpha_uses_only_shared_samples_and_latest_revision():
    base = [_r(i, rt, "w", fluency=s) for i, s in enumerate([1, 3, 5]) for rt in ("ann", "bob")]
    extra = [_r(99, "ann", "w", fluency=1)]  # only one rater: ignored
    revised = [_r(0, "bob", "w", fluency=5), _r(0, "bob", "w", fluency=1)]  # bob's last word agrees
    assert krippendorff_alpha(base + extra + revised, "fluency") == pytest.approx(1.0)


def test_bradley_terry_falls_back_when_ilsr_does_not_converge(monkeypatch):
    import choix

    def stuck(*args, **kwargs):
        raise RuntimeError("Did not converge")

    monkeypatch.setattr(choix, "ilsr_pairwise", stuck)
    votes = _votes("A", "B", 8, 2) + _votes("B", "C", 8, 2) + _votes("A", "C", 9, 1)
    rows = bradley_terry(votes, n_boot=20)
    assert [r["item"] for r in rows] == ["A", "B", "C"]


def test_bootstrap_interval_stays_on_the_1_to_5_scale():
    skewed = [1, 1, 1, 2]  # a t-interval reaches 0.45 here, below the scale
    assert mean_ci(skewed)[1] < 1
    for scores in (skewed, [5, 5, 5, 4], [1, 5], [1, 2, 3, 4, 5] * 3):
        mean, low, high = bootstrap_mean_ci(scores)
        assert 1 <= low <= mean <= high <= 5
        assert low < high
    rows = criterion_summary([_r(i, "ann", "cold", fluency=s) for i, s in enumerate(skewed)], by="setting")
    assert rows[0]["ci_low"] >= 1
    assert bootstrap_mean_ci([4, 4]) == (4.0, 4.0, 4.0) and bootstrap_mean_ci([3])[1] is None


def test_bradley_terry_over_model_and_setting_pairs_keeps_models_apart():
    base, tuned = ("gpt2", "greedy"), ("run-1 · step 200", "greedy")
    votes = [{"a": tuned, "b": base, "outcome": "a"}] * 6 + [{"a": base, "b": tuned, "outcome": "tie"}]
    rows = {r["item"]: r for r in bradley_terry(votes, n_boot=50)}
    assert set(rows) == {base, tuned}  # the same setting name on two models is two items, not one
    assert rows[tuned]["rank"] == 1 and rows[tuned]["strength"] > rows[base]["strength"]
    assert (rows[tuned]["won"], rows[tuned]["lost"], rows[tuned]["ties"]) == (6, 0, 1)  # the tie counted once
    assert rows[tuned]["wins"] == 6.5


@pytest.mark.parametrize("alpha, reading", [(0.9, "reliable"), (0.8, "reliable"), (0.7, "tentative"),
                                            (0.6, "unreliable"), (-0.2, "unreliable"), (None, None)])
def test_alpha_reading_follows_krippendorff(alpha, reading):
    assert alpha_reading(alpha) == reading
