"""Preference pairs from votes, scores and the Write page's accepts, on a real SQLite file: each piece of evidence
gives its pairs exactly once, with its provenance; counts and filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest

from core.errors import UserError
from core.ratings import pairs
from core.ratings.store import open_store

PROMPT = "春眠不觉晓"


def sample(text, **extra) -> dict:
    return {"model": "starter", "prompt": PROMPT, "text": text, "seed": 1, "settings": {"temperature": 0.8}, **extra}


@pytest.fixture
def store(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'lab.sqlite'}") as opened:
        yield opened


@dataclass
class Choice:
    """A stand-in with the fields of core.ratings.choices.WriteChoice (issue 25 writes the real one)."""

    id: str
    accepted: str | None
    shown: list[str]
    action: str = "accept"
    writer: str = "ann"
    draft: str = "poems"
    context: str = "床前明月光"
    model: str = "starter"
    checkpoint: str | None = None
    setting: dict = field(default_factory=lambda: {"temperature": 0.9})
    seed: int = 3
    created_at: datetime = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def test_votes_give_winner_over_loser_once_and_drop_ties(store):
    # the same text sent twice (a second row: another sample index), and a second model's text
    a, a_again, b, c = store.add_samples([sample(" 处处闻啼鸟"), sample(" 处处闻啼鸟", sample_index=1),
                                          sample(" 夜来风雨声", model="gpt2", seed=2), sample(" 花落知多少")])
    store.vote(a, b, "ann", "a")
    store.vote(b, a_again, "ann", "b")  # the same two texts again, through the duplicate row: one pair
    store.vote(a, c, "ann", "tie")  # no pair
    store.vote(b, c, "bob", "both_bad")  # no pair
    store.vote(c, b, "bob", "b")  # the store replaces bob's "both bad" (the same pair, shown the other way)
    found = pairs.from_votes(store)
    assert sorted((p.rater, p.chosen, p.rejected) for p in found) == [
        ("ann", " 处处闻啼鸟", " 夜来风雨声"), ("bob", " 夜来风雨声", " 花落知多少")]
    ann = next(p for p in found if p.rater == "ann")
    assert (ann.source, ann.prompt, ann.chosen_model, ann.rejected_model, ann.rejected_seed) == (
        "vote", PROMPT, "starter", "gpt2", 2)
    assert ann.chosen_settings == {"temperature": 0.8} and ann.origin.startswith("vote ") and ann.created


def test_scores_give_higher_over_lower_by_the_margin_once(store):
    a, a_again, b, c = store.add_samples([sample(" 一"), sample(" 一", sample_index=1), sample(" 二"), sample(" 三")])
    store.rate(a, "ann", {"fluency": 5, "style": 4})
    store.rate(a_again, "ann", {"fluency": 5, "style": 4})  # the duplicate text scored again: still one text
    store.rate(b, "ann", {"fluency": 3, "style": 3})
    store.rate(c, "ann", {"fluency": 4, "style": 4})
    store.rate(b, "bob", {"fluency": 1})  # bob scored one sample only: nothing to compare
    overall = pairs.from_scores(store, margin=1)  # means: 一 4.5, 二 3, 三 4
    assert sorted((p.chosen, p.rejected) for p in overall) == [(" 一", " 二"), (" 三", " 二")]
    assert {p.criterion for p in overall} == {"overall"} and {p.source for p in overall} == {"score"}
    assert [(p.chosen, p.rejected) for p in pairs.from_scores(store, margin=2, criterion="fluency")] == [(" 一", " 二")]
    assert pairs.from_scores(store, margin=3, criterion="fluency") == []
    with pytest.raises(UserError, match="criterion"):
        pairs.from_scores(store, criterion="beauty")


def test_accepts_give_the_accepted_over_each_alternative_once():
    choices = [Choice("c1", " 疑是地上霜", [" 疑是地上霜", " 举头望明月", " 举头望明月"]),
               Choice("c1", " 疑是地上霜", [" 疑是地上霜", " 举头望明月"]),  # the same choice sent twice
               Choice("c2", None, [" 低头思故乡"], action="dismiss")]
    found = pairs.from_choices(choices)
    assert [(p.prompt, p.chosen, p.rejected, p.source, p.rater, p.origin) for p in found] == [
        ("床前明月光", " 疑是地上霜", " 举头望明月", "accept", "ann", "choice c1")]
    assert found[0].created == "2026-12-01T10:00:00+00:00" and found[0].chosen_settings == {"temperature": 0.9}


def test_counts_filters_and_the_file_round_trip(store, tmp_path):
    a, b = store.add_samples([sample(" 甲"), sample(" 乙", model="gpt2")])
    store.vote(a, b, "ann", "a")
    store.rate(a, "bob", {"style": 5})
    store.rate(b, "bob", {"style": 2})
    found = pairs.collect(store, choices=[Choice("c1", " 丙", [" 丙", " 丁"])], criterion="style")
    assert pairs.counts(found) == {"vote": 1, "score": 1, "accept": 1}
    assert [p.source for p in pairs.filtered(found, rater="bob")] == ["score"]
    assert [p.source for p in pairs.filtered(found, criterion="style")] == ["score"]
    assert len(pairs.filtered(found, model="gpt2")) == 2
    assert [p.source for p in pairs.filtered(found, until=date(2026, 12, 1))] == ["accept"]
    assert len(pairs.filtered(found, since=date.today())) == 2
    path = tmp_path / "pairs.jsonl"
    assert pairs.write(found, path) == 3
    assert pairs.read(path) == found


def test_bad_pairs_files_are_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="cannot read the pairs file"):
        pairs.read(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(UserError, match="holds no pairs"):
        pairs.read(tmp_path / "empty.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x", "chosen": "y"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 1 is not a pair"):
        pairs.read(tmp_path / "bad.jsonl")


def test_held_out_is_fixed_and_never_empty():
    some = [pairs.Pair(prompt="p", chosen=str(i), rejected="r", source="vote", rater="ann") for i in range(20)]
    train, held = pairs.held_out(some, seed=1)
    assert (len(train), len(held)) == (18, 2) and pairs.held_out(some, seed=1) == (train, held)
    assert not set(map(id, train)) & set(map(id, held))
    with pytest.raises(UserError, match="at least 2 pairs"):
        pairs.held_out(some[:1])
