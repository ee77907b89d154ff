"""Playground: one prompt under several decoding settings, side by side, for the base model and checkpoints."""

import streamlit as st

from core import models
from core.errors import UserError
from core.playground import grid
from core.workspace import Workspace
from dashboard import warm_imports
from dashboard.i18n import error_text, t
from dashboard.playground import playground_state, playground_view
from dashboard.safe_text import md_escape

workspace = Workspace.from_env()
choices = list(dict.fromkeys([*models.local_models(workspace), *models.HUB_MODELS]))
wanted = st.query_params.get("model")  # "Open in Playground" from a run
if wanted and wanted not in choices:
    choices.insert(0, wanted)
playground_view.init(workspace, choices, wanted)  # the draft: prompts, models and columns survive page switches
st.title(t("playground.title"))
st.markdown(t("playground.intro"))

chosen_models = st.multiselect(t("pg.models"), choices, key="pg.models", accept_new_options=True)
prompt_text = st.text_area(t("pg.prompts"), key="pg.prompts")
prompts = playground_view.prompts_of(prompt_text, st.toggle(t("pg.one_per_line"), value=True, key="pg.one_per_line"))
playground_view.reset_button(workspace)

with st.expander(t("pg.presets")):
    playground_view.render_presets(workspace)
try:
    configs = playground_view.render_columns()
except UserError as error:
    configs = None
    st.error(md_escape(error_text(error)))

go, stop = st.columns([1, 5])
if go.button(t("pg.generate"), type="primary", disabled=not (configs and chosen_models and prompts), key="pg.generate"):
    stop.button(t("pg.stop"), key="pg.stop")  # any click reruns the page, which interrupts the generation
    warm_imports.wait(t("app.warming"))
    st.session_state["pg.results"] = []  # filled as each cell is done: what is done survives a Stop
    result = grid.generate_grid(chosen_models, prompts, configs, workspace=workspace, load=playground_state.model,
                                memorization=playground_state.training_index, on_cell=playground_view.live_cell(configs),
                                on_item=st.session_state["pg.results"].append, keep_top=10)
    st.session_state["pg.problems"] = playground_view.problem_lines(result.problems)
    st.rerun()

for problem in st.session_state.get("pg.problems", []):
    st.error(problem)

if st.session_state.get("pg.results"):
    playground_view.render_results(st.session_state["pg.results"], workspace)
