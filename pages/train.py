"""Train: fine-tune a model on a dataset in a process of its own; this page only reads what the run writes."""

import streamlit as st

from core.workspace import Workspace
from dashboard.i18n import t

st.title(t("train.title"))
st.markdown(t("train.intro"))

workspace = Workspace.from_env()
st.subheader(t("train.runs"))
runs = workspace.runs()
if runs:
    st.dataframe({t("train.col.run"): [r.name for r in runs]}, hide_index=True)
else:
    st.info(t("train.no_runs"))
if not workspace.datasets():
    st.caption(t("train.needs_dataset"))
