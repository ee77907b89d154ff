"""Write: co-write with a model in a draft; each accepted or dismissed suggestion becomes data for the ratings."""

import streamlit as st

from core.workspace import Workspace
from dashboard.i18n import t
from dashboard.write import write_view

workspace = Workspace.from_env()
st.title(t("write.title"))
st.markdown(t("write.intro"))

writer = st.text_input(t("write.writer"), st.query_params.get("writer", ""), key="write.writer").strip()
if writer:
    st.query_params["writer"] = writer  # a reload keeps who is writing
draft = write_view.pick_draft(workspace)
if draft is not None:
    model_col, setting_col = st.columns(2)
    with model_col:
        model = write_view.pick_model(workspace)
    with setting_col:
        config = write_view.pick_setting(workspace, model)
    write_view.editor(workspace, draft)
    loaded = write_view.load(model)
    if loaded is not None:
        write_view.token_counts(loaded, draft)
    write_view.suggest_bar(workspace, draft, model, config, loaded, writer)
    write_view.pending(workspace, writer)
    write_view.history(workspace, draft)
    with st.expander(t("write.tokens_title"), expanded=True):
        write_view.token_view(workspace, draft, loaded)
    with st.expander(t("write.provenance")):
        write_view.provenance(draft)
        write_view.rename(workspace, draft)
