"""The Data page's "Hugging Face dataset" source: a hub id, read through `datasets`, or why it cannot be."""

from __future__ import annotations

import streamlit as st

from core.data.loading import LoadResult
from core.errors import UserError
from dashboard.data import corpus_cache
from dashboard.i18n import error_text, t


def render(options_json: str) -> tuple[str | None, LoadResult | None]:
    """The id input; (cache key, corpus) once one loads, else (None, None)."""
    spec = st.text_input(t("data.hf_dataset"), key="data.hf_dataset", placeholder="user/name:config@train",
                         help=t("data.hf_dataset.help"))
    if not spec:
        return None, None
    key = f"hf:{spec}"
    try:
        return key, corpus_cache.load(key, options_json, _hf=spec)
    except UserError as error:
        st.error(t("data.hf_dataset.refused"))
        st.code(error_text(error), language=None, wrap_lines=True)  # as text: the message holds what was typed
        return None, None
