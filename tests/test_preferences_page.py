"""The Ratings page's Preferences tab (issue 26) through the real entry point (AppTest): the pairs with their
counts, a best-of dataset saved, and a settings-arena round voted on."""

from __future__ import annotations

from core.ratings.arena import Arena
from core.ratings.store import open_store
from tests.test_pages import open_page


def test_preferences_tab_shows_pairs_saves_a_best_of_and_plays_the_arena(workspace, quick_models):
    with open_store(workspace.db_url) as store:
        good, bad = store.add_samples([{"model": "starter", "prompt": "春", "text": "眠不觉晓", "seed": 1},
                                       {"model": "starter", "prompt": "春", "text": "春春春春", "seed": 2}])
        store.vote(good, bad, "ann", "a")
        store.rate(good, "ann", {"style": 5})
        store.rate(bad, "ann", {"style": 1})
    at = open_page("ratings")
    at.text_input(key="ratings.rater").input("ann").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [(m.label, m.value) for m in at.metric][:3] == [("from votes", "1"), ("from scores", "1"),
                                                           ("from accepts", "0")]
    table = next(d.value for d in at.dataframe if "chosen" in d.value.columns)
    assert len(table) == 2 and set(table["source"]) == {"vote", "score"} and set(table["chosen"]) == {"眠不觉晓"}
    at.text_input(key="prefs.best_of.name").input("best").run()
    at.button(key="prefs.best_of.save").click().run()
    assert (workspace.datasets_dir / "best" / "report.json").is_file()
    at.button(key="prefs.arena.next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    first = Arena("starter", workspace.db_url).pending()
    assert first.texts is not None and first.texts[0] in [x.value for x in at.text]
    at.button(key="prefs.arena.vote.left").click().run()
    assert not at.exception, [e.value for e in at.exception]
    arena = Arena("starter", workspace.db_url)
    assert [v["outcome"] for v in arena.votes()] == ["left"] and arena.pending().number != first.number
    assert arena.pending().texts is not None  # the next round, sampled
    assert "Position bias: the left sample won 100% of 1 decisive votes" in " ".join(c.value for c in at.caption)
    at.button(key="prefs.arena.use").click().run()
    assert (workspace.root / "presets" / "playground" / "arena-starter.json").is_file()
