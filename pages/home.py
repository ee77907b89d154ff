"""Home: what the lab does, in workflow order, and where this workspace stands."""

import streamlit as st

from core.summary import summarize
from core.workspace import Workspace
from dashboard.i18n import t
from dashboard.navigation import page_file
from dashboard.safe_text import md_escape

st.title(t("home.title"))
st.markdown(t("home.intro"))

steps = st.columns(4)
for column, name in zip(steps, ["data", "train", "playground", "ratings"]):
    with column.container(border=True):
        st.page_link(page_file(name), label=t(f"nav.{name}"), icon=None)
        st.caption(t(f"home.step.{name}"))

summary = summarize(Workspace.from_env())
st.subheader(t("home.workspace"))
datasets, runs, rated = st.columns(3)
datasets.metric(t("home.datasets"), summary.datasets)
datasets.caption(
    t("home.latest", name=md_escape(summary.latest_dataset)) if summary.latest_dataset else t("home.no_datasets")
)
runs.metric(t("home.runs"), summary.runs)
runs.caption(
    t("home.latest_run", name=md_escape(summary.latest_run), state=t(f"state.{summary.latest_run_state}"))
    if summary.latest_run
    else t("home.no_runs")
)
rated.metric(t("home.rated"), summary.rated_samples)
rated.caption(t("home.rated_help"))

if summary.starter_ready:
    st.success(t("home.starter_ready"))
else:
    st.warning(t("home.starter_missing"))
