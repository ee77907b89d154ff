"""The Ratings page's "Preferences" tab (issue 26): the preference pairs the ratings give, a best-of dataset, the
blind settings arena, and whether each preference-tuned model beats its parent."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core import models
from core.errors import UserError
from core.playground import arena_play  # torch: only once a round is sampled
from core.ratings import arena as arenas
from core.ratings import best_of, pairs
from core.ratings.rubric import CRITERIA
from core.ratings.store import open_store
from core.train import preference_effect
from dashboard.i18n import error_text, t
from dashboard.safe_text import md_escape


def pairs_table(store) -> None:
    """Counts per source, filters (rater, model, criterion, source, since) and the pairs with their provenance."""
    found = pairs.lab_pairs(store)
    counts = pairs.counts(found)
    for column, source in zip(st.columns(len(counts)), counts):
        column.metric(t(f"prefs.source.{source}"), counts[source])
    rater_col, model_col, source_col, since_col = st.columns(4)
    every = t("prefs.all")  # labels translated now, not whenever the widget formats its options
    rater = rater_col.selectbox(t("prefs.rater"), [None, *sorted({p.rater for p in found})], key="prefs.rater",
                                format_func=lambda v: every if v is None else v)
    names = sorted({m for p in found for m in (p.chosen_model, p.rejected_model) if m})
    model = model_col.selectbox(t("prefs.model"), [None, *names], key="prefs.model",
                                format_func=lambda v: every if v is None else v)
    sources = {None: every, **{v: t(f"prefs.source.{v}") for v in pairs.SOURCES}}
    source = source_col.selectbox(t("prefs.source"), list(sources), key="prefs.source", format_func=sources.__getitem__)
    since = since_col.date_input(t("prefs.since"), value=None, key="prefs.since")
    kept = pairs.filtered(found, rater=rater, model=model, source=source, since=since)
    if not kept:
        st.info(t("prefs.none"))
        return
    table = pd.DataFrame([p.to_dict() for p in kept]).rename(columns=lambda c: t(f"prefs.col.{c}"))
    st.dataframe(table, hide_index=True, key="prefs.table")
    st.download_button(t("prefs.download", n=len(kept)), "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n"
                                                                  for p in kept).encode(), "pairs.jsonl",
                       key="prefs.download")
    st.caption(t("prefs.train_hint"))


def best_of_form(store, workspace) -> None:
    """Save the best-rated samples (or the vote winners) as a dataset to fine-tune on."""
    mode_col, score_col, criterion_col, name_col = st.columns(4)
    modes = {m: t(f"prefs.best_of.{m}") for m in best_of.MODES}
    mode = mode_col.selectbox(t("prefs.best_of.mode"), list(modes), key="prefs.best_of.mode",
                              format_func=modes.__getitem__)
    score = score_col.number_input(t("prefs.best_of.min_score"), 1.0, 5.0, 4.0, 0.5, key="prefs.best_of.min_score",
                                   disabled=mode != "scores")
    criteria = {pairs.OVERALL: t("prefs.overall"), **{c: t(f"ratings.criterion.{c}") for c in CRITERIA}}
    criterion = criterion_col.selectbox(t("prefs.best_of.criterion"), list(criteria), key="prefs.best_of.criterion",
                                        format_func=criteria.__getitem__, disabled=mode != "scores")
    name = name_col.text_input(t("prefs.best_of.name"), key="prefs.best_of.name", placeholder="best-of")
    choice = dict(mode="winners") if mode == "winners" else dict(min_score=score, criterion=criterion)
    st.caption(t("prefs.best_of.count", n=len(best_of.chosen_samples(store, **choice))))
    if st.button(t("prefs.best_of.save"), key="prefs.best_of.save"):
        try:
            saved = best_of.save(store, workspace, name or "best-of", **choice)
            st.success(t("prefs.best_of.saved", name=md_escape(saved.name), n=saved.documents))
        except UserError as error:
            st.error(md_escape(error_text(error)))


@st.fragment
def arena(workspace, rater: str) -> None:
    """A blind round between two sampling settings of one model, the champion, and the raters' position bias."""
    model_col, prompt_col = st.columns([1, 2])
    model = model_col.selectbox(t("prefs.arena.model"), models.local_models(workspace), key="prefs.arena.model")
    prompt = prompt_col.text_input(t("prefs.arena.prompt"), key="prefs.arena.prompt", value="春眠不觉晓")
    if not model:
        st.info(t("prefs.arena.no_model"))
        return
    try:
        # an arena is made by its first round, not by looking at the tab
        played = arenas.Arena(model, workspace.db_url) if model in arenas.arenas(workspace.db_url) else None
        shown = played.pending() if played else None
        if shown is None and st.button(t("prefs.arena.next"), key="prefs.arena.next", disabled=not rater):
            played = played or arenas.Arena(model, workspace.db_url)
            shown = played.propose(prompt)
        if shown is not None and shown.texts is None:
            with st.spinner(t("prefs.arena.sampling")):
                played.set_texts(shown.number, *arena_play.sample_round(workspace, model, shown))
            shown = played.pending()
    except UserError as error:
        st.error(md_escape(error_text(error)))
        return
    if not rater:
        st.info(t("ratings.who"))
    if st.session_state.get("prefs.arena.error"):  # from the last vote's callback (voted in another tab)
        st.warning(md_escape(st.session_state.pop("prefs.arena.error")))
    if shown is None:
        return _arena_results(workspace, played, model) if played else None
    st.text(shown.prompt)
    left, right = st.columns(2)
    left.text(shown.texts[0])
    right.text(shown.texts[1])
    for column, outcome in zip(st.columns(3), arenas.OUTCOMES):
        column.button(t(f"prefs.arena.vote.{outcome}"), key=f"prefs.arena.vote.{outcome}", width="stretch",
                      disabled=not rater, on_click=_vote, args=(played, shown.number, outcome, rater, prompt))
    _arena_results(workspace, played, model)


def _vote(played, number: int, outcome: str, rater: str, prompt: str) -> None:
    """In the click's callback, before its rerun: that rerun draws the next round's samples."""
    try:
        played.vote(number, outcome, rater)
        played.propose(prompt)
    except UserError as error:
        st.session_state["prefs.arena.error"] = error_text(error)


def _arena_results(workspace, played, model: str) -> None:
    champion = played.champion()
    bias = arenas.position_bias(played.votes())
    if bias["left_rate"] is not None:
        st.caption(t("prefs.arena.bias", rate=f"{bias['left_rate']:.0%}", low=f"{bias['low']:.0%}",
                     high=f"{bias['high']:.0%}", n=bias["left"] + bias["right"], ties=bias["ties"]))
    if champion is None:
        return
    st.markdown(t("prefs.arena.champion", votes=champion["votes"]))
    st.json(champion["settings"])
    if st.button(t("prefs.arena.use"), key="prefs.arena.use"):
        st.success(t("prefs.arena.saved", name=md_escape(arena_play.save_champion(workspace, model,
                                                                                  champion["settings"]))))
    ranked = played.ranking()
    if ranked:
        st.dataframe(pd.DataFrame([{**r["settings"], **{k: r[k] for k in ("strength", "wins", "losses", "votes")}}
                                   for r in ranked]), hide_index=True, key="prefs.arena.ranking")


def effect_caption(workspace, run_dir) -> None:
    """Beside a preference-tuned run: its win rate against its parent in blind votes, once there are any."""
    run = next((r for r in preference_effect.tuned_runs(workspace) if r["id"] == run_dir.name), None)
    if run is None:
        return
    with open_store() as store:
        result = preference_effect.effect(store, run)
    label = t("prefs.effect.run", run=md_escape(run["id"]), parent=md_escape(run["parent"]))
    st.caption(label + " " + (t("prefs.effect.no_votes") if result["rate"] is None else t(
        "prefs.effect.rate", rate=f"{result['rate']:.0%}", low=f"{result['low']:.0%}", high=f"{result['high']:.0%}",
        n=result["votes"], ties=result["ties"])))


def tuned_vs_parent(workspace) -> None:
    """Each preference-tuned run against its parent: the blind A/B's win rate with a 95% interval, or the button
    that proposes it (samples of both on the run's held-out prompts, to vote on in the Compare tab)."""
    tuned = preference_effect.tuned_runs(workspace)
    if not tuned:
        st.caption(t("prefs.effect.none"))
        return
    with open_store() as store:
        for run in tuned:
            result = preference_effect.effect(store, run)
            label = t("prefs.effect.run", run=md_escape(run["id"]), parent=md_escape(run["parent"]))
            if result["rate"] is None:
                st.markdown(label + " " + t("prefs.effect.no_votes"))
            else:
                st.markdown(label + " " + t("prefs.effect.rate", rate=f"{result['rate']:.0%}", low=f"{result['low']:.0%}",
                                            high=f"{result['high']:.0%}", n=result["votes"], ties=result["ties"]))
            if st.button(t("prefs.effect.propose"), key=f"prefs.effect.{run['id']}"):
                try:
                    with st.spinner(t("prefs.arena.sampling")):
                        new = preference_effect.propose(workspace, store, run["id"], run["parent"])
                    st.success(t("prefs.effect.proposed", n=new))
                except UserError as error:
                    st.error(md_escape(error_text(error)))

