"""The Data page's "folder on the server" source: a path under the folders the server may read, or why not."""

from __future__ import annotations

import streamlit as st

from core.data.loading import LoadResult
from core.errors import UserError
from core.workspace import Workspace
from dashboard.data import corpus_cache
from dashboard.i18n import error_text, t


def render(workspace: Workspace, options_json: str) -> tuple[str | None, LoadResult | None]:
    """The folder input with the allowed roots as a hint; (cache key, corpus) once one loads, else (None, None)."""
    roots = workspace.data_roots()
    folder = st.text_input(t("data.folder"), key="data.folder", placeholder="my-novels")
    st.caption(t("data.folder.roots"))
    st.code("\n".join(map(str, roots)), language=None)
    if not folder:
        return None, None
    key = f"folder:{folder}"
    try:
        # A relative path is read from the inbox (roots[0]); an absolute one replaces it when joined.
        return key, corpus_cache.load(key, options_json, _folder=str(roots[0] / folder), _roots=roots)
    except UserError as error:
        st.error(t("data.folder.refused"))
        st.code(error_text(error), language=None, wrap_lines=True)  # as text: the message holds what was typed
        return None, None
