"""The settings arena (issue 26, item 4) on a real SQLite lab database: its study survives a restart (a fresh
process), a scripted rater with a known preferred region leads it there within 60 votes (also one that clicks the
wrong side on 10% of its votes, for three regions), and the position bias is computed right on a hand-made vote
table."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from core.errors import UserError
from core.ratings.arena import Arena, arenas, position_bias
from tests.conftest import ROOT, core_env


def _distance(settings: dict) -> float:
    """How far a setting lies from the scripted rater's preferred region (3% of the space): temperature 0.6-0.9,
    repetition penalty 1.3 or more, top-p 0.85 or more."""
    from core.bench.preferences import region_distance

    return region_distance(settings, "songci")


def test_a_scripted_rater_leads_the_arena_into_its_region_within_60_votes(tmp_path):
    url, rng = f"sqlite:///{tmp_path / 'lab.sqlite'}", random.Random(0)
    for _ in range(60):
        arena = Arena("starter", url)  # opened afresh each time, as each page view does
        shown = arena.propose("春眠不觉晓")
        left, right = _distance(shown.left), _distance(shown.right)
        arena.vote(shown.number, "left" if left < right else "right" if right < left else rng.choice(
            ["left", "right"]), "scripted")
        champion = arena.champion()
        if champion and _distance(champion["settings"]) == 0:
            break
    else:
        pytest.fail(f"after 60 votes the champion is {arena.champion()}")
    print(f"\nthe champion entered the preferred region after {len(arena.votes())} votes: {champion['settings']}")
    assert shown.left != shown.right and {shown.left_trial, shown.right_trial} >= {shown.number}


@pytest.mark.parametrize("region", ["songci", "cold", "wide"])
def test_a_noisy_scripted_rater_leads_the_arena_into_each_region_within_60_votes(tmp_path, region):
    from core.bench.preferences import REGIONS, scripted_arena

    played = scripted_arena(f"sqlite:///{tmp_path / 'lab.sqlite'}", region, seed=0, votes=60, flipped=0.1)
    print(f"\n{region} {REGIONS[region]}: {played}")
    assert played["found_at"] is not None and played["inside_at_the_end"]


def test_a_challenger_that_lost_is_followed_by_the_opposite_step(tmp_path):
    from core.ratings.arena import SPACE_BOUNDS
    from core.ratings.arena_search import to_unit

    url = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    opening = Arena("m", url).propose("p")
    Arena("m", url).vote(opening.number, "left", "ann")
    arena = Arena("m", url)
    champion = arena.champion()
    challenge = arena.propose("p")
    arena.vote(challenge.number, "right" if challenge.left_trial == challenge.number else "left", "ann")  # it lost
    mirrored = Arena("m", url).propose("p")  # a restarted page proposes the same
    assert arena.champion()["trial"] == champion["trial"] and mirrored.number != challenge.number
    centre, tried, opposite = (to_unit({k: s[k] for k in SPACE_BOUNDS}, SPACE_BOUNDS) for s in (
        champion["settings"], _challenger(challenge), _challenger(mirrored)))
    for name in SPACE_BOUNDS:  # the opposite side of the champion (up to clipping at the space's edge and rounding)
        if 0.0 < opposite[name] < 1.0 and 0.0 < tried[name] < 1.0:
            assert opposite[name] - centre[name] == pytest.approx(centre[name] - tried[name], abs=0.01)


def _challenger(shown) -> dict:
    return shown.left if shown.left_trial == shown.number else shown.right


def test_the_arena_lives_in_the_lab_database_and_survives_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    arena = Arena("run-1", url)
    first = arena.propose("床前明月光")
    arena.set_texts(first.number, " 疑是地上霜", " 低头思故乡")
    assert Arena("run-1", url).propose("another prompt") == Arena("run-1", url).pending()  # the pending round stays
    arena.vote(first.number, "left", "ann")
    with pytest.raises(UserError, match="voted on already"):
        arena.vote(first.number, "right", "bob")
    second = arena.propose("床前明月光")
    arena.set_texts(second.number, " a", " b")
    code = ("import json, sys\nfrom core.ratings.arena import Arena, arenas\n"
            "a = Arena('run-1', sys.argv[1]); r = a.pending()\n"
            "print(json.dumps({'arenas': arenas(sys.argv[1]), 'votes': len(a.votes()), 'round': r.number, "
            "'texts': r.texts, 'left': r.left, 'champion': (a.champion() or {}).get('trial')}))")
    done = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, env=core_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["arenas"] == ["run-1"] and seen["votes"] == 1 and seen["round"] == second.number
    assert seen["texts"] == [" a", " b"] and seen["left"] == second.left
    assert arenas(url) == ["run-1"] and Arena("starter", url).pending() is None  # one arena per model


def test_a_challenger_must_win_twice_to_take_the_champions_place(tmp_path):
    url = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    arena = Arena("m", url)
    opening = arena.propose("p")
    arena.vote(opening.number, "left", "ann")
    champion = arena.champion()["trial"]
    challenge = arena.propose("p")
    challenger_side = "left" if challenge.left_trial == challenge.number else "right"
    arena.vote(challenge.number, challenger_side, "ann")
    rematch = arena.propose("p")
    assert rematch.number == challenge.number and rematch.seed != challenge.seed  # the same settings, another seed
    assert arena.champion()["trial"] == champion  # not yet
    arena.vote(rematch.number, "left" if rematch.left_trial == rematch.number else "right", "ann")
    assert arena.champion()["trial"] == challenge.number
    assert len(arena.votes()) == 3 and {r["trial"] for r in arena.ranking()} >= {champion, challenge.number}


def test_position_bias_on_a_hand_made_vote_table():
    votes = [{"outcome": o} for o in ["left"] * 30 + ["right"] * 10 + ["tie"] * 5]
    bias = position_bias(votes)
    assert (bias["left"], bias["right"], bias["ties"]) == (30, 10, 5)
    assert bias["left_rate"] == 0.75
    # Wilson's 95% interval for 30 of 40 (z = 1.95996): 0.5980 to 0.8579
    assert bias["low"] == pytest.approx(0.5980, abs=1e-3) and bias["high"] == pytest.approx(0.8579, abs=1e-3)
    assert position_bias([{"outcome": "tie"}])["left_rate"] is None


def test_the_champion_is_what_an_export_writes_as_generation_config(workspace, tmp_path):
    from core.publish import model_card

    arena = Arena("run-1", workspace.db_url)
    preferred = arena.propose("p").right_trial
    while arena.champion() is None:  # the opening round; a challenger's win is played twice
        shown = arena.propose("p")
        arena.vote(shown.number, "right" if shown.right_trial == preferred else "left", "ann")
    champion = arena.champion()
    assert champion["trial"] == preferred
    best = model_card._arena_champion(workspace, "run-1/final", "run-1")  # the export's name, then its run
    assert best["settings"] == champion["settings"] and "settings arena" in best["config_name"]
    model_card._generation_config(best["settings"]).save_pretrained(tmp_path)
    written = json.loads((tmp_path / "generation_config.json").read_text(encoding="utf-8"))
    assert written["temperature"] == champion["settings"]["temperature"] and written["do_sample"] is True
    assert model_card._arena_champion(workspace, "another-run") is None
