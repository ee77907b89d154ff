"""The Train page's Explore tab: start a sweep, compare its trials, and the run queue (issue 14)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.train import queue, scheduler, sweep
from core.train.config import TrainConfig
from dashboard import figures
from dashboard.i18n import choice_labels, error_text, t
from dashboard.navigation import page_file
from dashboard.safe_text import md_escape
from dashboard.train.run_view import POLL_SECONDS

DEFAULT_AXES = {"learning_rate": "3e-4,1e-3,3e-3", "batch_size": "4,8"}


def render_form(workspace, base: TrainConfig, ready: bool) -> None:
    """Axes over the New run tab's configuration as the base; a grid or a sampler; N trials; pruning."""
    st.caption(t("sweep.intro"))
    texts = {name: st.text_input(t(f"sweep.axis.{name}"), DEFAULT_AXES.get(name, ""), key=f"sweep.axis.{name}")
             for name in sweep.AXES}
    left, middle, right = st.columns(3)
    samplers = choice_labels("sampler", sweep.SAMPLERS)
    sampler = left.selectbox(t("sweep.sampler"), list(samplers), format_func=samplers.get, key="sweep.sampler")
    trials = middle.number_input(t("sweep.trials"), 0, 200, 0, key="sweep.trials", help=t("sweep.trials_help"))
    name = right.text_input(t("sweep.name"), key="sweep.name")
    prune = st.checkbox(t("sweep.prune"), key="sweep.prune")
    if st.button(t("sweep.start"), type="primary", disabled=not ready, key="sweep.start"):
        try:
            fixed, axes = sweep.split_axes(texts)  # one value is part of the base, as on the command line
            spec = sweep.create(workspace, replace(base, **fixed), axes, sampler=sampler, trials=int(trials),
                                prune=prune, name=name or None)
            st.session_state["sweep.shown"] = spec.id
            st.rerun()
        except UserError as error:
            st.error(md_escape(error_text(error)))


def render_compare(workspace) -> None:
    listed = [s.id for s in sweep.list_sweeps(workspace)]
    if not listed:
        st.info(t("sweep.none"))
        return
    shown = st.session_state.get("sweep.shown")
    chosen = st.selectbox(t("sweep.pick"), listed, index=listed.index(shown) if shown in listed else 0,
                          key="sweep.pick")
    live = not sweep.load(workspace, chosen).finished
    st.fragment(run_every=POLL_SECONDS if live else None)(_comparison)(workspace, chosen, live)


def _comparison(workspace, chosen: str, was_live: bool) -> None:
    """Polls while the sweep runs (a fragment, as a live run's panel), so its trials appear as they end."""
    data = sweep.compare(workspace, chosen)
    if was_live and data["finished"]:
        st.rerun()  # the sweep just ended: redraw the page once, without polling
    st.caption(t("sweep.finished" if data["finished"] else "sweep.progress", done=len(data["trials"]),
                 planned=data["trials_planned"]))
    best = data["best"]
    if best:
        st.success(md_escape(t("sweep.best", run=best["run"], loss=f"{best['best_eval_loss']:.4f}")))
        play, rate = st.columns(2)
        play.page_link(page_file("playground"), label=t("sweep.open_best"), query_params={"model": best["run"]})
        if rate.button(t("sweep.rate_best"), key="sweep.rate_best"):
            _act(lambda: st.toast(t("sweep.rated", n=_send_gallery(workspace, best["run"]))), rerun=False)
    rated = data["best_rated"]
    if rated:
        st.success(md_escape(t("sweep.best_rated", run=rated["run"], score=f"{rated['score']:.2f}",
                               n=rated["ratings"])))
    if data["saved_s"]:
        st.caption(t("sweep.saved", seconds=f"{data['saved_s']:.0f}"))
    st.dataframe(pd.DataFrame([_row(trial) for trial in data["trials"]]), hide_index=True, width="stretch")
    if best:
        st.plotly_chart(figures.sweep_parallel(data["trials"], data["axes"], loss_label=t("sweep.col.best")),
                        key="sweep.parallel")
    states = {trial["run"]: trial["state"] for trial in data["trials"]}
    st.plotly_chart(figures.sweep_curves(data["curves"], states, title=t("sweep.curves"),
                                         eval_label=t("run.eval_loss"), step_label=t("run.step_axis")),
                    key="sweep.curves")


def _row(trial: dict) -> dict:
    return {t("sweep.col.trial"): trial["trial"], t("sweep.col.run"): trial["run"],
            t("sweep.col.state"): t(f"state.{trial['state']}") if trial["state"] else "",
            **{name: str(value) for name, value in trial["params"].items()},
            t("sweep.col.best"): trial["best_eval_loss"], t("sweep.col.perplexity"): trial["perplexity"],
            t("sweep.col.tokens"): trial["tokens_per_s"], t("sweep.col.score"): trial["score"]}


def render_queue(workspace) -> None:
    """The runs waiting for a device, in order, with move up/down and cancel; a scheduler is started if none runs
    (after a restart of the server, or of the machine's lab processes)."""
    listed = queue.entries(workspace)
    st.subheader(t("queue.title"))
    if not listed:
        st.caption(t("queue.empty"))
        return
    scheduler.hand_over(workspace)
    for entry in listed:
        label, up, down, cancel = st.columns([6, 1, 1, 1])
        label.text(f"{entry['position']}. {entry['id']} · {', '.join(entry['devices'])}")
        if up.button("↑", key=f"queue.up.{entry['id']}", help=t("queue.up"), disabled=entry["position"] == 1):
            _act(lambda e=entry: queue.move(workspace, e["id"], e["position"] - 1))
        if down.button("↓", key=f"queue.down.{entry['id']}", help=t("queue.down"),
                       disabled=entry["position"] == len(listed)):
            _act(lambda e=entry: queue.move(workspace, e["id"], e["position"] + 1))
        if cancel.button("✕", key=f"queue.cancel.{entry['id']}", help=t("queue.cancel")):
            _act(lambda e=entry: queue.cancel(workspace, e["id"]))


def _send_gallery(workspace, run: str) -> int:
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.ratings.store import open_store
    from core.train.gallery_import import import_gallery

    return import_gallery(open_store(), workspace.runs_dir / run)


def _act(action, rerun: bool = True) -> None:
    try:
        action()
        if rerun:
            st.rerun()
    except UserError as error:
        st.error(md_escape(error_text(error)))
