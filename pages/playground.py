"""Playground: one prompt under several decoding settings, side by side, for the base model and checkpoints."""

import time
import uuid

import streamlit as st

from core import models
from core.errors import UserError
from core.evaluation.sample_stats import stats
from core.playground import sampling
from core.workspace import Workspace
from dashboard import playground_state, playground_view
from dashboard.i18n import t
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
prompts = [p for p in st.text_area(t("pg.prompts"), key="pg.prompts").splitlines() if p.strip()]
playground_view.reset_button(workspace)

with st.expander(t("pg.presets")):
    playground_view.render_presets(workspace)
try:
    configs = playground_view.render_columns()
except UserError as error:
    configs = None
    st.error(md_escape(error))

go, stop = st.columns([1, 5])
if go.button(t("pg.generate"), type="primary", disabled=not (configs and chosen_models and prompts), key="pg.generate"):
    stop.button(t("pg.stop"), key="pg.stop")  # any click reruns the page, which interrupts the generation
    batch, results, problems = uuid.uuid4().hex, [], []
    for model_name in chosen_models:
        try:
            tokenizer, model = playground_state.model(model_name)
            index = playground_state.training_index(model_name)
        except UserError as error:
            problems.append(t("pg.cannot_load", model=md_escape(model_name), error=md_escape(error)))
            continue
        for prompt in prompts:
            st.markdown(f"**{md_escape(model_name)}** · {md_escape(prompt)}")
            boxes, texts, flushed = playground_view.live_boxes(configs), {}, [0.0]

            def on_token(row: int, piece: str, texts=texts, flushed=flushed, boxes=boxes, prompt=prompt) -> None:
                texts[row] = texts.get(row, "") + piece
                if time.monotonic() - flushed[0] > 0.15:  # redraw a few times a second, not per token
                    flushed[0] = time.monotonic()
                    for r, box in boxes.items():
                        box.text(prompt + texts.get(r, ""))

            try:
                samples = sampling.generate(model, tokenizer, prompt, configs, on_token=on_token, keep_top=10)
            except UserError as error:
                problems.append(md_escape(error))
                continue
            results += [playground_view.result(model_name, s, configs, stats(s, index), batch) for s in samples]
            st.session_state["pg.results"] = results  # what is done survives a Stop
    st.session_state["pg.results"], st.session_state["pg.problems"] = results, problems
    st.rerun()

for problem in st.session_state.get("pg.problems", []):
    st.error(problem)

if st.session_state.get("pg.results"):
    playground_view.render_results(st.session_state["pg.results"], workspace)
