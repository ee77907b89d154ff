"""Train: fine-tune a model on a dataset in a process of its own; this page only reads what the run writes."""

import streamlit as st

from core.data import dataset
from core.errors import UserError
from core.train import preference_data, queue, runs
from core.train.memory import model_architecture
from core.workspace import Workspace
from dashboard import warm_imports
from dashboard.i18n import error_text, t
from dashboard.safe_text import md_escape
from dashboard.sidebar import cached_hardware
from dashboard.train import run_view, runs_view, sweep_view, train_form

workspace = Workspace.from_env()
st.title(t("train.title"))
st.markdown(t("train.intro"))

shown = run_view.live_run(workspace, st.query_params.get("run"))
if shown is not None:
    run_view.render(workspace, shown)
    run_view.scroll_to_panel_once()  # after Start: the run's panel in view, not the form's bottom

# Tracked tabs: a run's panel comes and goes above them (a sweep's trials start and end), and untracked tabs
# would then jump back to the first one
new_tab, explore_tab, runs_tab = st.tabs([t("train.tab.new"), t("sweep.tab"), t("train.tab.runs")], key="train.tabs",
                                         on_change="rerun")
with new_tab:
    warm_imports.wait(t("app.warming"))  # the form reads the hardware and model configurations
    saved = {d.name: d for d in dataset.list_datasets(workspace)}
    if not saved:
        st.info(t("train.needs_dataset"))
    hardware = cached_hardware()
    config = train_form.render(list(saved), hardware, workspace)
    arch = model_architecture(config.model, workspace, confined=True)  # read once: the estimate and the checks
    st.subheader(t("train.memory"))
    too_big = train_form.render_memory(config, hardware, arch)
    chosen = saved.get(config.dataset)
    ready = train_form.render_problems(config, arch, chosen.documents if chosen else None, len(hardware.gpus), workspace)
    run_name = st.text_input(t("train.run_name"), key="train.run_name", placeholder=t("train.run_name.placeholder"))
    confirmed = not too_big or st.checkbox(t("train.memory.confirm"), key="train.memory.confirm")
    if st.button(t("train.start"), type="primary", disabled=not (ready and confirmed), key="train.start"):
        try:
            run_dir = runs.start(workspace, preference_data.settle(workspace, config), name=run_name.strip() or None)
            st.query_params["run"] = run_dir.name
            run_view.just_started(run_dir.name)
            st.rerun()
        except UserError as error:
            st.error(md_escape(error_text(error)))
    if ready and runs.device_busy(workspace, config) and not run_view.is_just_started(shown):
        st.caption(t("queue.busy"))
        if st.button(t("queue.start"), key="queue.start"):
            try:
                queue.enqueue(workspace, preference_data.settle(workspace, config))
                st.rerun()
            except UserError as error:
                st.error(md_escape(error_text(error)))
    sweep_view.render_queue(workspace)

with explore_tab:
    sweep_view.render_form(workspace, config, ready)
    sweep_view.render_compare(workspace)

with runs_tab:
    runs_view.render(workspace)
