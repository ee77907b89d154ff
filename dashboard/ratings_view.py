"""The Ratings page's pieces: the rating sheet, blind A/B comparisons, and the aggregates."""

from __future__ import annotations

import random

import pandas as pd
import streamlit as st

from core import aggregates
from core.errors import UserError
from dashboard.i18n import t

CRITERIA = ["fluency", "coherence", "style", "repetition"]


def sheet(store, rater: str, blind: bool) -> None:
    """One sample at a time: the prompt apart from the continuation, four 1–5 scores, a comment, submit or skip."""
    samples = store.samples()
    mine = {r["sample_id"]: r for r in store.ratings(rater=rater)}
    skipped = st.session_state.setdefault("ratings.skipped", [])
    queue = [s for s in samples if s["id"] not in mine and s["id"] not in skipped]
    if blind:
        random.Random(rater).shuffle(queue)  # the same order for the same rater, not the order they were made in
    st.progress(len(mine) / max(1, len(samples)), text=t("ratings.progress", rated=len(mine), total=len(samples)))
    revise = st.selectbox(t("ratings.revise"), [None, *mine], key="ratings.revise",
                          format_func=lambda i: t("ratings.next") if i is None else f"#{i}")
    sample = next((s for s in samples if s["id"] == revise), None) if revise else (queue[0] if queue else None)
    if sample is None:
        st.success(t("ratings.all_done"))
        return
    if not blind:
        st.caption(t("ratings.provenance", model=sample["model"], setting=sample.get("config_name") or "–",
                     seed=sample.get("seed"), source=sample["source"]))
    st.markdown(f"**{t('ratings.prompt')}**")
    st.text(sample["prompt"])
    st.markdown(f"**{t('ratings.continuation')}**")
    st.text(sample["text"])
    previous = mine.get(sample["id"], {})
    with st.form(f"ratings.form.{sample['id']}", clear_on_submit=False, border=True):
        scores = {}
        for criterion in CRITERIA:
            scores[criterion] = st.radio(t(f"ratings.criterion.{criterion}"), [1, 2, 3, 4, 5], horizontal=True,
                                         index=(previous.get(criterion) or 3) - 1, help=t(f"ratings.criterion.{criterion}.help"),
                                         key=f"ratings.{criterion}.{sample['id']}")
        comment = st.text_input(t("ratings.comment"), previous.get("comment") or "", key=f"ratings.comment.{sample['id']}")
        submitted = st.form_submit_button(t("ratings.submit"), type="primary")
    if submitted:
        try:
            store.rate(sample["id"], rater, scores, comment)
            st.rerun()
        except UserError as error:
            st.error(str(error))
    if not revise and st.button(t("ratings.skip"), key="ratings.skip"):
        skipped.append(sample["id"])
        st.rerun()


def compare(store, rater: str) -> None:
    """Two samples of the same prompt, in a shuffled order with their settings hidden; one vote."""
    seed = st.session_state.setdefault("ratings.pair_seed", 0)
    pair = store.pair_for(rater, seed)
    if pair is None:
        st.info(t("ratings.no_pairs"))
        return
    a, b = pair
    st.markdown(f"**{t('ratings.prompt')}**")
    st.text(a["prompt"])
    left, right = st.columns(2)
    left.markdown("**A**")
    left.text(a["text"])
    right.markdown("**B**")
    right.text(b["text"])
    for column, outcome in zip(st.columns(4), ["a", "b", "tie", "both_bad"]):
        if column.button(t(f"ratings.vote.{outcome}"), key=f"ratings.vote.{outcome}", width="stretch"):
            store.vote(a["id"], b["id"], rater, outcome)
            st.session_state["ratings.pair_seed"] = seed + 1
            st.rerun()


def results(store) -> None:
    ratings = store.ratings()
    if not ratings:
        st.info(t("ratings.no_ratings"))
        return
    for key, label in [("config_name", t("ratings.by_setting")), ("checkpoint", t("ratings.by_checkpoint"))]:
        st.markdown(f"**{label}**")
        rows = aggregates.criterion_summary([{**r, key: r.get(key) or "–"} for r in ratings], by=key)
        frame = pd.DataFrame(rows)
        st.dataframe(frame[[key, "criterion", "n", "mean", "ci_low", "ci_high"]], hide_index=True, width="stretch")
    votes = store.comparisons()
    if votes:
        st.markdown(f"**{t('ratings.bradley_terry')}**")
        ranked = aggregates.bradley_terry([{"a": v["config_a"], "b": v["config_b"], "outcome": v["outcome"]} for v in votes])
        st.dataframe(pd.DataFrame(ranked), hide_index=True, width="stretch")
    alphas = {c: aggregates.krippendorff_alpha(ratings, c) for c in CRITERIA}
    st.markdown(f"**{t('ratings.agreement')}**")
    st.dataframe(pd.DataFrame([{t("ratings.criterion"): t(f"ratings.criterion.{c}"), "α": a} for c, a in alphas.items()]),
                 hide_index=True)
