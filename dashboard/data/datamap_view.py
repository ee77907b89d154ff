"""The data map of a saved dataset on the Data page: each document's bits per character under a chosen model, as a
histogram and a sortable table, the worst and best documents in full, and saving the dataset again without the
documents chosen. The map is computed by its own process (core.evaluation.document_loss); this view only reads it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import models
from core.data import dataset
from core.errors import UserError
from core.evaluation import document_loss
from dashboard import figures
from dashboard.i18n import error_text, t
from dashboard.safe_text import md_escape

POLL_SECONDS = 2.0
SHOWN_IN_FULL = 3  # worst and best documents readable in full


def render(workspace, name: str) -> None:
    st.subheader(t("datamap.title"))
    st.caption(t("datamap.intro"))
    choices = models.local_models(workspace)
    model = st.selectbox(t("datamap.model"), choices, key="datamap.model")
    if not model:
        return
    path = document_loss.map_path(workspace.datasets_dir / name, model, workspace)
    state = document_loss.read_map(path) or {}
    if state.get("state") == "failed":
        st.error(md_escape(state.get("error", "")))
    if state.get("state") in (None, "failed"):
        if st.button(t("datamap.start"), key="datamap.start"):
            try:
                document_loss.start(name, model, workspace)
            except UserError as error:
                st.error(md_escape(error_text(error)))
                return
            st.rerun()
        return
    if state["state"] == "running":
        st.fragment(run_every=POLL_SECONDS)(_progress)(path)
        return
    _map(workspace, name, state)


def _progress(path) -> None:
    """Redrawn every POLL_SECONDS while the map is computed; the whole page once it is done."""
    state = document_loss.read_map(path) or {}
    if state.get("state") != "running":
        st.rerun()
    st.progress(float(state.get("fraction", 0.0)), text=t("datamap.running"))


def _map(workspace, name: str, result: dict) -> None:
    rows = document_loss.worst_first(result)
    data_dir = workspace.datasets_dir / name
    texts = {part: dataset.read_texts(data_dir, part) for part in document_loss.PARTS
             if (data_dir / f"{part}.jsonl").is_file()}
    st.plotly_chart(figures.value_histogram([r["bits_per_char"] for r in rows], title=t("datamap.histogram"),
                                            x_title=t("datamap.bits_per_char")), key="datamap.histogram")
    label = {r["key"]: f"{r['part']}#{r['index']} · {r['bits_per_char']:.2f} · "
                       f"{texts[r['part']][r['index']][:40]}" for r in rows}
    st.dataframe(pd.DataFrame([{
        t("datamap.col.document"): f"{r['part']}#{r['index']}",
        t("datamap.col.bits_per_char"): r["bits_per_char"],
        t("datamap.col.chars"): r["chars"],
        t("datamap.col.tokens"): r["tokens"],
        t("datamap.col.start"): texts[r["part"]][r["index"]][:80],
    } for r in rows]), hide_index=True, width="stretch", key="datamap.table")
    worst, best = st.columns(2)
    for column, title, chosen in ((worst, t("datamap.worst"), rows[:SHOWN_IN_FULL]),
                                  (best, t("datamap.best"), rows[::-1][:SHOWN_IN_FULL])):
        column.caption(title)
        for r in chosen:
            with column.expander(f"{r['part']}#{r['index']} · {r['bits_per_char']:.2f}"):
                st.text(texts[r["part"]][r["index"]])  # as text: corpus strings are never markdown
    excluded = st.multiselect(t("datamap.exclude"), list(label), format_func=label.get, key="datamap.exclude")
    new_name = st.text_input(t("datamap.new_name"), value=f"{name}-mapped", key="datamap.new_name")
    if st.button(t("datamap.save"), disabled=not excluded, key="datamap.save"):
        try:
            saved = document_loss.exclude(name, excluded, new_name, workspace)
        except UserError as error:
            st.error(md_escape(error_text(error)))
        else:
            st.success(t("datamap.saved", name=md_escape(new_name), excluded=len(excluded),
                         documents=saved["train_documents"] + saved["validation_documents"]))
