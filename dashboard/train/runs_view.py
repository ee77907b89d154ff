"""All runs: a table, loss curves of chosen runs overlaid, a config diff, delete, open in the Playground."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.train import runs
from core.train.run_dir import RunDir
from core.train.state import RunState
from dashboard import figures
from dashboard.i18n import error_text, t
from dashboard.navigation import page_file
from dashboard.safe_text import md_escape


def render(workspace) -> None:
    listed = runs.list_runs(workspace)
    if not listed:
        st.info(t("train.no_runs"))
        return
    st.dataframe(
        pd.DataFrame([
            {
                t("runs.col.run"): r["id"],
                t("runs.col.state"): _state(r),
                t("runs.col.model"): r.get("model", ""),
                t("runs.col.dataset"): r.get("dataset", ""),
                t("runs.col.best"): r.get("best_eval_loss"),
                t("runs.col.bits"): r.get("best_bits_per_char"),
                t("runs.col.steps"): f"{r.get('step') or 0} / {r.get('max_steps') or '?'}",
                t("runs.col.duration"): _minutes(r.get("duration_s")),
            }
            for r in listed
        ]),
        hide_index=True, width="stretch",
    )
    ids = [r["id"] for r in listed]
    chosen = st.multiselect(t("runs.overlay"), ids, default=ids[:2], key="runs.overlay")
    if chosen:
        st.plotly_chart(
            figures.loss_chart({run: runs.read_metrics(workspace.runs_dir / run) for run in chosen}, title=t("run.loss"),
                               train_label=t("run.train_loss"), smooth_label=t("run.smoothed"),
                               eval_label=t("run.eval_loss"), step_label=t("run.step_axis")),
            key="runs.overlay.chart",
        )
        st.plotly_chart(figures.bits_chart({run: runs.read_metrics(workspace.runs_dir / run) for run in chosen},
                                           title=t("run.bits_per_char"), step_label=t("run.step_axis"),
                                           bits_label=t("run.bits_axis")), key="runs.overlay.bits")
    if len(ids) > 1:
        left, right = st.columns(2)
        a = left.selectbox(t("runs.diff_a"), ids, index=0, key="runs.diff.a")
        b = right.selectbox(t("runs.diff_b"), ids, index=1, key="runs.diff.b")
        try:
            diff = runs.config_diff(workspace.runs_dir / a, workspace.runs_dir / b)
        except UserError as error:
            diff = None
            st.warning(md_escape(error_text(error)))
        if diff:
            st.dataframe(pd.DataFrame([{t("runs.option"): k, a: str(x), b: str(y)} for k, x, y in diff]), hide_index=True)
        elif diff is not None:
            st.caption(t("runs.same_config"))

    run = st.selectbox(t("runs.pick"), ids, key="runs.pick")
    run_dir = workspace.runs_dir / run
    show, play, remove = st.columns(3)
    if show.button(t("runs.show"), key="runs.show"):
        st.query_params["run"] = run
        st.rerun()
    if RunDir(run_dir).final_dir.is_dir() or runs.complete_checkpoints(run_dir):
        play.page_link(page_file("playground"), label=t("runs.open_playground"), query_params={"model": run})
    confirm = remove.checkbox(t("runs.confirm_delete", run=md_escape(run)), key=f"runs.confirm.{run}")
    if remove.button(t("runs.delete"), disabled=not confirm, key="runs.delete"):
        try:
            runs.delete(run_dir)
            if st.query_params.get("run") == run:
                del st.query_params["run"]
            st.rerun()
        except UserError as error:
            st.error(md_escape(error_text(error)))


def _state(run: dict) -> str:
    label = t(f"state.{run['state']}")
    return f"{label} ({run['error']})" if run["state"] == RunState.UNREADABLE else label


def _minutes(seconds) -> str:
    return f"{seconds / 60:.1f} min" if seconds else "–"
