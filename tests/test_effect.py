"""Whether preference tuning helped (issue 26, item 5): the tuned model's win rate against its parent in blind
votes, with a 95% Wilson interval, on a hand-made vote table in a real SQLite file."""

from __future__ import annotations

import pytest

from core.ratings.effect import win_rate
from core.ratings.store import open_store


def test_win_rate_counts_only_tuned_against_parent(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'lab.sqlite'}") as store:
        outcomes = ["a"] * 5 + ["b"] * 3  # tuned shown as A: 5 wins, 3 losses
        for i, outcome in enumerate(outcomes):
            tuned, parent = store.add_samples([{"model": "dpo-run", "prompt": f"p{i}", "text": "好诗"},
                                               {"model": "songci", "prompt": f"p{i}", "text": "诗诗"}])
            store.vote(tuned, parent, "ann", outcome)
        for i, outcome in enumerate(["a", "a", "b", "tie", "both_bad"]):  # tuned shown as B: 2 losses, 1 win, 1 tie
            parent, tuned = store.add_samples([{"model": "songci", "prompt": f"q{i}", "text": "甲"},
                                               {"model": "dpo-run", "prompt": f"q{i}", "text": "乙"}])
            store.vote(parent, tuned, "bob", outcome)
        other, tuned = store.add_samples([{"model": "gpt2", "prompt": "r", "text": "x"},
                                          {"model": "dpo-run", "prompt": "r", "text": "y"}])
        store.vote(other, tuned, "ann", "a")  # another model: not this comparison
        result = win_rate(store, "dpo-run", "songci")
    assert (result["wins"], result["losses"], result["ties"], result["votes"]) == (6, 5, 1, 12)
    assert result["rate"] == pytest.approx(6 / 11)
    assert result["low"] == pytest.approx(0.2804, abs=1e-3) and result["high"] == pytest.approx(0.7872, abs=1e-3)


def test_no_votes_no_rate(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'lab.sqlite'}") as store:
        assert win_rate(store, "dpo-run", "songci")["rate"] is None
