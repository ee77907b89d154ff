"""The sidebar on every page: language, workspace, hardware."""

from __future__ import annotations

import streamlit as st

from core.hardware import Hardware, detect, format_bytes
from core.workspace import Workspace
from dashboard import warm_imports
from dashboard.i18n import LANGUAGES, current_language, t
from dashboard.safe_text import md_escape


@st.cache_data(ttl=10, show_spinner=False)
def cached_hardware() -> Hardware:
    warm_imports.warm()  # detect() imports torch (no spinner here: a cached function's elements are replayed)
    return detect()


def _switch_language() -> None:
    st.session_state["lang"] = st.session_state["language_choice"]
    st.query_params["lang"] = st.session_state["lang"]


def language_choice() -> None:
    """The language picker (also the only sidebar item a rater sees)."""
    codes = list(LANGUAGES)
    st.selectbox(
        t("sidebar.language"),
        codes,
        index=codes.index(current_language()),
        format_func=LANGUAGES.get,
        key="language_choice",
        on_change=_switch_language,
    )


def render(workspace: Workspace):
    """Language and workspace now; returns the hardware panel's place, filled by `render_hardware` once the page is
    drawn (the panel needs torch, which may still be importing)."""
    with st.sidebar:
        language_choice()
        st.caption(t("sidebar.workspace"))
        st.text(str(workspace.root))  # not st.code: its 1.5 MB syntax highlighter would load with every first page
        return st.expander(t("sidebar.hardware"), expanded=True)


def render_hardware(panel) -> None:
    with panel:
        warm_imports.wait(t("app.warming"))
        hardware_panel(cached_hardware())


def hardware_panel(hw: Hardware) -> None:
    st.markdown(f"**{t('hardware.cpu')}**: {md_escape(hw.cpu_name)} · {t('hardware.cores', n=hw.cpu_cores)}")
    st.markdown(
        f"**{t('hardware.ram')}**: "
        + t("hardware.free_of", free=format_bytes(hw.ram_available_bytes), total=format_bytes(hw.ram_total_bytes))
    )
    for gpu in hw.gpus:
        st.markdown(
            f"**GPU {gpu.index}**: {md_escape(gpu.name)} · "
            + t("hardware.free_of", free=format_bytes(gpu.free_bytes), total=format_bytes(gpu.total_bytes))
        )
    if hw.mps:
        st.markdown(t("hardware.mps"))
    if hw.accelerator == "cpu":
        st.info(t("hardware.no_gpu"))
