"""The Ratings page's pieces: the rating sheet, blind A/B comparisons, and the aggregates."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import evaluation
from core.errors import UserError
from core.models.names import short_model_name
from core.ratings import aggregates, raters, rubric
from core.ratings import io as ratings_io
from core.ratings.rubric import CRITERIA, OUTCOMES, SCORES
from core.ratings.store import open_store
from core.train import gallery_import, runs
from core.train.run_dir import RunDir
from dashboard import figures, warm_imports
from dashboard.figures import CALM
from dashboard.i18n import error_text, setting_label, t
from dashboard.safe_text import md_escape


def edit_rubric(workspace) -> None:
    """What each criterion asks, in this workspace's words (empty = the lab's default question)."""
    current = rubric.load(workspace)
    edited = {c: st.text_input(t(f"ratings.criterion.{c}"), current[c], placeholder=t(f"ratings.criterion.{c}.help"),
                               key=f"ratings.rubric.{c}") for c in CRITERIA}
    if st.button(t("ratings.rubric_save"), key="ratings.rubric.save"):
        rubric.save(workspace, edited)
        st.success(t("ratings.rubric_saved"))


@st.fragment
def sheet(rater: str, blind: bool, descriptions: dict[str, str]) -> None:
    """One sample at a time: the prompt apart from the continuation, four 1–5 scores, a comment, submit or skip.

    A fragment with its own store: a save reruns only the sheet, not the page around it.
    """
    with open_store() as store:
        _sheet(store, rater, blind, descriptions)


def _sheet(store, rater: str, blind: bool, descriptions: dict[str, str]) -> None:
    mine = {r["sample_id"]: r for r in store.ratings(rater=rater)}
    skipped = st.session_state.setdefault("ratings.skipped", [])
    rated, total = store.progress(rater)
    st.progress(rated / max(1, total), text=t("ratings.progress", rated=rated, total=total))
    revise = st.selectbox(t("ratings.revise"), [None, *mine], key="ratings.revise",
                          format_func=lambda i: t("ratings.next") if i is None else f"#{i}")
    sample = store.sample(revise) if revise else store.next_unrated(rater, skip=skipped, shuffled=blind)
    if sample is None:
        st.success(t("ratings.all_done"))
        return
    if not blind:
        st.caption(t("ratings.provenance", model=md_escape(short_model_name(sample["checkpoint"] or sample["model"])),
                     setting=md_escape(setting_label(sample.get("config_name"))),
                     seed="–" if sample.get("seed") is None else md_escape(sample["seed"]),
                     source=t(f"ratings.source.{sample['source']}")))
    st.markdown(f"**{t('ratings.prompt')}**")
    st.text(sample["prompt"])
    st.markdown(f"**{t('ratings.continuation')}**")
    st.text(sample["text"])
    previous = mine.get(sample["id"], {})
    with st.form(f"ratings.form.{sample['id']}", clear_on_submit=False, border=True):
        for criterion in CRITERIA:
            # No default: a score nobody chose must not be stored as a 3.
            st.radio(t(f"ratings.criterion.{criterion}"), SCORES, horizontal=True,
                     index=SCORES.index(previous[criterion]) if previous.get(criterion) else None,
                     help=md_escape(descriptions[criterion]) if descriptions.get(criterion)
                     else t(f"ratings.criterion.{criterion}.help"),
                     key=f"ratings.{criterion}.{sample['id']}")
        comment_key = f"ratings.comment.{sample['id']}"
        st.text_input(t("ratings.comment"), previous.get("comment") or "", key=comment_key)
        # Saved in the callback, before the rerun the click makes: one (fragment) rerun, showing the next sample.
        st.form_submit_button(t("ratings.submit"), type="primary", on_click=_save,
                              args=(sample["id"], rater, {c: f"ratings.{c}.{sample['id']}" for c in CRITERIA}, comment_key))
    problem = st.session_state.pop("ratings.problem", None)
    if problem:
        st.error(problem)
    if not revise:
        st.button(t("ratings.skip"), key="ratings.skip", on_click=skipped.append, args=(sample["id"],))


def _save(sample_id: int, rater: str, score_keys: dict[str, str], comment_key: str) -> None:
    scores = {c: st.session_state.get(key) for c, key in score_keys.items()}
    missing = [t(f"ratings.criterion.{c}") for c in CRITERIA if scores[c] is None]
    if missing:
        st.session_state["ratings.problem"] = t("results.missing_scores", criteria=", ".join(missing))
        return
    try:
        with open_store() as store:
            store.rate(sample_id, rater, scores, st.session_state.get(comment_key) or "")
    except UserError as error:
        st.session_state["ratings.problem"] = md_escape(error_text(error))


@st.fragment
def compare(rater: str) -> None:
    """Two samples of the same prompt, in a shuffled order with their settings hidden; one vote (a fragment)."""
    with open_store() as store:
        _compare(store, rater)


def _compare(store, rater: str) -> None:
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
    for column, outcome in zip(st.columns(len(OUTCOMES)), OUTCOMES):
        column.button(t(f"ratings.vote.{outcome}"), key=f"ratings.vote.{outcome}", width="stretch",
                      on_click=_vote, args=(a["id"], b["id"], rater, outcome, seed))


def _vote(a: int, b: int, rater: str, outcome: str, seed: int) -> None:
    """Recorded in the callback, before the rerun the click makes: that one rerun shows the next pair."""
    with open_store() as store:
        store.vote(a, b, rater, outcome)
    st.session_state["ratings.pair_seed"] = seed + 1


def results(store) -> None:
    """Mean ± 95% interval per criterion by setting and by checkpoint, the A/B ranking, and rater agreement."""
    left_out = raters.excluded(store)  # the owner's choice: their scores stay, the aggregates go without them
    ratings = [r for r in store.ratings() if r["rater"] not in left_out]
    if not ratings:
        st.info(t("ratings.no_ratings"))
        return
    for key, label in [("config_name", t("ratings.by_setting")), ("checkpoint", t("ratings.by_checkpoint"))]:
        st.markdown(f"**{label}**")
        rows = aggregates.criterion_summary([{**r, "group": _group(r, key)} for r in ratings], by="group")
        frame = pd.DataFrame(rows)
        groups = list(dict.fromkeys(frame["group"]))
        series = {t(f"ratings.criterion.{c}"): [(row["mean"], row["ci_low"], row["ci_high"])
                                                for row in rows if row["criterion"] == c] for c in CRITERIA}
        st.plotly_chart(figures.mean_ci_chart(groups, series, title=t("results.mean_ci", by=label),
                                              x_title=t("results.score")), key=f"ratings.ci.{key}")
        shown = frame.assign(criterion=[t(f"ratings.criterion.{c}") for c in frame["criterion"]])
        st.dataframe(shown[["group", "criterion", "n", "mean", "ci_low", "ci_high"]].rename(columns=_headers(label)),
                     hide_index=True, width="stretch")
        st.plotly_chart(_distribution(frame, "group"), key=f"ratings.dist.{key}")
    ranking([v for v in store.comparisons() if v["rater"] not in left_out])
    agreement(ratings)


def _group(rating: dict, key: str) -> str:
    model = short_model_name(rating.get("checkpoint") or rating["model"], step_word=t("results.step"),
                             final_word=t("results.final"))
    if key == "checkpoint":  # a run's name and step, not a path
        return model
    return f"{model} · {setting_label(rating.get(key))}"  # "greedy" on two models is two settings, not one pooled


def _headers(group_label: str) -> dict[str, str]:
    names = ["criterion", "n", "mean", "ci_low", "ci_high", "strength", "won", "lost", "ties", "rank"]
    return {"group": group_label, **{name: t(f"results.{name}") for name in names}}


def ranking(votes: list[dict]) -> None:
    """Bradley–Terry over (model, setting): the same setting on the base model and on a fine-tune are two items."""
    if not votes:
        return
    st.markdown(f"**{t('ratings.bradley_terry')}**")
    side = {s: [_item(v, s) for v in votes] for s in ("a", "b")}
    ranked = aggregates.bradley_terry([{"a": a, "b": b, "outcome": v["outcome"]}
                                       for a, b, v in zip(side["a"], side["b"], votes)])
    if not ranked:
        st.caption(t("results.no_decisive"))
        return
    labels = [" · ".join(r["item"]) for r in ranked]
    st.plotly_chart(figures.strength_chart(labels, [r["strength"] for r in ranked], [r["ci_low"] for r in ranked],
                                           [r["ci_high"] for r in ranked], title=t("results.strength_title"),
                                           x_title=t("results.strength")), key="ratings.bt")
    frame = pd.DataFrame(ranked).assign(item=labels)
    st.dataframe(frame[["rank", "item", "strength", "ci_low", "ci_high", "won", "lost", "ties"]]
                 .rename(columns=_headers(t("results.item"))).rename(columns={"item": t("results.item")}),
                 hide_index=True, width="stretch")
    st.caption(t("results.ties_caption"))


def _item(vote: dict, side: str) -> tuple[str, str]:
    location = vote[f"checkpoint_{side}"] or vote[f"model_{side}"]
    model = short_model_name(location, step_word=t("results.step"), final_word=t("results.final"))
    return model, vote[f"config_{side}"] or "–"


def agreement(ratings: list[dict]) -> None:
    """Krippendorff's α per criterion, with his own reading of it in words."""
    alphas = {c: aggregates.krippendorff_alpha(ratings, c) for c in CRITERIA}
    st.markdown(f"**{t('ratings.agreement')}**")
    st.dataframe(pd.DataFrame([{t("ratings.criterion"): t(f"ratings.criterion.{c}"),
                                "α": "–" if a is None else f"{a:.3f}",
                                t("results.reading"): t(f"results.alpha.{aggregates.alpha_reading(a) or 'none'}")}
                               for c, a in alphas.items()]), hide_index=True)
    st.caption(t("results.alpha_caption"))


def _distribution(frame: pd.DataFrame, key: str) -> go.Figure:
    """Stacked score counts (1 to 5) per group and criterion."""
    labels = [f"{figures.plot_text(g)} · {t(f'ratings.criterion.{c}')}" for g, c in zip(frame[key], frame["criterion"])]
    colours = dict(zip(SCORES, ["#c0504d", "#e4a46b", "#d9d3c3", "#9bb7cc", "#3d6b8c"]))
    figure = go.Figure([go.Bar(y=labels, x=frame[f"count_{s}"], name=str(s), orientation="h", marker_color=colours[s])
                        for s in SCORES])
    figure.update_layout(barmode="stack", title=t("ratings.distribution"), **{**CALM, "height": 120 + 22 * len(labels)})
    return figure


def downloads(store) -> None:
    left, right = st.columns(2)
    for column, fmt in [(left, "csv"), (right, "jsonl")]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"ratings.{fmt}"
            ratings_io.export(store, fmt, path)
            column.download_button(t("ratings.download", fmt=fmt.upper()), path.read_bytes(), path.name,
                                   key=f"ratings.download.{fmt}")


def import_gallery(store, workspace) -> None:
    listed = [r["id"] for r in runs.list_runs(workspace)]
    if not listed:
        return
    pick, go_ = st.columns([3, 1])
    run = pick.selectbox(t("ratings.gallery_run"), listed, key="ratings.gallery.run")
    if go_.button(t("ratings.gallery_import"), key="ratings.gallery.import", width="stretch"):
        try:
            st.success(t("ratings.gallery_done", n=gallery_import.import_gallery(store, workspace.runs_dir / run)))
        except UserError as error:
            st.error(md_escape(error_text(error)))


def diversity(store) -> None:
    """Distinct-n and self-BLEU over each setting's samples: how varied a setting's texts are."""
    by_setting: dict[str, list[str]] = {}
    for sample in store.samples():
        by_setting.setdefault(setting_label(sample.get("config_name")), []).append(sample["text"])
    rows = [{t("ratings.setting"): name, t("ratings.samples"): len(texts),
             t("results.distinct", n=1): evaluation.distinct_n_over(texts, 1),
             t("results.distinct", n=2): evaluation.distinct_n_over(texts, 2),
             t("results.self_bleu"): evaluation.self_bleu(texts)}
            for name, texts in by_setting.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def perplexity_table(workspace) -> None:
    """Perplexity of the base model and each checkpoint of a run on its dataset's validation split."""
    listed = [r["id"] for r in runs.list_runs(workspace)]
    if not listed:
        st.caption(t("ratings.no_runs"))
        return
    run = st.selectbox(t("ratings.ppl_run"), listed, key="ratings.ppl.run")
    if st.button(t("ratings.ppl_compute"), key="ratings.ppl.compute"):
        try:
            dataset = RunDir(workspace.runs_dir / run).config().dataset
            with st.spinner(t("ratings.ppl_running")):
                warm_imports.warm()  # torch and transformers: imported by the server's one background thread
                table = evaluation.compare(evaluation.run_models(run, workspace), dataset, workspace=workspace)
            columns = ["model", "perplexity", "tokens", "block_size"]
            st.dataframe(pd.DataFrame(table)[columns].rename(columns={c: t(f"results.{c}") for c in columns}),
                         hide_index=True, width="stretch")
        except UserError as error:
            st.error(md_escape(error_text(error)))


def raters_panel(store) -> None:
    """Who rated what and when, each rater's α with the others, and the owner's exclusions from the aggregates."""
    ratings, votes = store.ratings(), store.comparisons()
    names = sorted({r["rater"] for r in ratings} | {v["rater"] for v in votes})
    if not names:
        st.caption(t("raters.none"))
        return
    left_out = raters.excluded(store)
    alphas = aggregates.alpha_per_rater(ratings)
    frame = pd.DataFrame([aggregates.rater_progress(name, ratings, votes) for name in names])
    frame["alpha"] = frame["rater"].map(alphas)
    frame["excluded"] = frame["rater"].isin(left_out)
    columns = {"rater": t("raters.name"), "rated": t("raters.rated"), "votes": t("raters.votes"),
               "first": t("raters.first"), "last": t("raters.last"), "alpha": t("raters.alpha"),
               "excluded": t("raters.excluded")}
    st.dataframe(frame[list(columns)].rename(columns=columns), hide_index=True, width="stretch")
    st.caption(t("raters.alpha_caption"))
    st.multiselect(t("raters.exclude"), names, default=sorted(left_out & set(names)), key="raters.excluded",
                   on_change=_exclude, args=(names,))


def _exclude(names: list[str]) -> None:
    chosen = set(st.session_state["raters.excluded"])
    with open_store() as store:
        for name in names:
            raters.set_excluded(store, name, name in chosen)
