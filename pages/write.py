"""Write: co-write with a model in a draft; each accepted or dismissed suggestion becomes data for the ratings."""

import streamlit as st

from core import access as lab_access
from core.workspace import Workspace
from core.write import drafts
from dashboard import access
from dashboard.i18n import t
from dashboard.write import write_view

workspace = Workspace.from_env()
st.title(t("write.title"))
st.markdown(t("write.intro"))

person = access.visitor()
if person.role == "rater":  # the identity's name, their own drafts, only the models the owner chose
    writer, home, allowed = person.name, drafts.rater_home(workspace, person.name), lab_access.rater_write_models()
else:
    writer = st.text_input(t("write.writer"), st.query_params.get("writer", ""), key="write.writer").strip()
    if writer:
        st.query_params["writer"] = writer  # a reload keeps who is writing
    home, allowed = workspace, None
draft = write_view.pick_draft(home)
if draft is not None:
    model_col, setting_col = st.columns(2)
    with model_col:
        model = write_view.pick_model(workspace, allowed)
    with setting_col:
        config = write_view.pick_setting(home, model)
    write_view.editor(home, draft)
    loaded = write_view.load(model)
    if loaded is not None:
        write_view.token_counts(loaded, draft)
    write_view.suggest_bar(home, draft, model, config, loaded, writer)
    write_view.pending(home, writer)
    write_view.history(home, draft)
    with st.expander(t("write.tokens_title"), expanded=True):
        write_view.token_view(home, draft, loaded)
    with st.expander(t("write.provenance")):
        write_view.provenance(draft, paths=allowed is None)
        write_view.rename(home, draft)
