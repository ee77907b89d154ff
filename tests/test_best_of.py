"""Rated samples back into a dataset (issue 26, item 3): the samples above a score, or the vote winners, each once,
with their provenance in the dataset's report; a real SQLite file, the real dataset writer and the CLI."""

from __future__ import annotations

import json

import pytest

from core.data import dataset
from core.errors import UserError
from core.ratings import best_of
from core.ratings.store import open_store
from tests.conftest import run_core


def _rated(workspace):
    store = open_store(workspace.db_url)
    good, good_again, fair, poor = store.add_samples([
        {"model": "starter", "prompt": "春", "text": "眠不觉晓", "seed": 1},
        {"model": "starter", "prompt": "春", "text": "眠不觉晓", "seed": 1, "sample_index": 1},  # sent twice
        {"model": "starter", "prompt": "春", "text": "风又绿江南岸", "seed": 2},
        {"model": "gpt2", "prompt": "春", "text": "春春春春", "seed": 3}])
    store.rate(good, "ann", {"style": 5, "fluency": 4})
    store.rate(good_again, "bob", {"style": 5})
    store.rate(fair, "ann", {"style": 4})
    store.rate(fair, "bob", {"style": 3})
    store.rate(poor, "ann", {"style": 1})
    store.vote(poor, fair, "ann", "b")
    store.vote(good, poor, "bob", "a")
    return store, {"good": good, "fair": fair, "poor": poor}


def test_samples_above_the_bar_become_a_dataset_with_their_provenance(workspace):
    store, ids = _rated(workspace)
    with store:
        saved = best_of.save(store, workspace, "best", min_score=4.0)
        assert saved.documents == 1  # 眠不觉晓 once (both copies: 4.5, 5); 风又绿江南岸 has a mean of 3.5
        report = json.loads((workspace.datasets_dir / "best" / "report.json").read_text(encoding="utf-8"))
        assert [p["text"] for p in report["provenance"]] == ["眠不觉晓"]
        assert report["provenance"][0]["model"] == "starter" and report["best_of"]["min_score"] == 4.0
        assert {p["text"] for p in best_of.chosen_samples(store, min_score=3.5)} == {"眠不觉晓", "风又绿江南岸"}
        assert best_of.chosen_samples(store, min_score=5, criterion="style")[0]["raters"] == ["bob"]
        winners = best_of.chosen_samples(store, mode="winners")
        assert {(w["text"], w["net_wins"]) for w in winners} == {("眠不觉晓", 1), ("风又绿江南岸", 1)}
        assert best_of.chosen_samples(store, mode="winners", model="gpt2") == []
        with pytest.raises(UserError, match="no rated sample passes"):
            best_of.save(store, workspace, "none", min_score=5.0, criterion="coherence")
    texts = dataset.read_texts(workspace.datasets_dir / "best", "data") + dataset.read_texts(
        workspace.datasets_dir / "best", "validation")
    assert "".join(texts) == "春眠不觉晓"  # prompt and continuation (one document: split within itself)


def test_the_command_saves_the_winners(workspace):
    _rated(workspace)[0].close()
    done = run_core(workspace, "ratings", "best-of", "--name", "winners", "--winners")
    assert done.returncode == 0, done.stderr
    assert "saved the dataset winners: 2 rated samples" in done.stdout
    done = run_core(workspace, "ratings", "best-of", "--name", "winners", "--winners")
    assert done.returncode != 0 and done.stderr.startswith("error: ") and "already exists" in done.stderr
