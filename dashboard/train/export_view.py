"""Export on the Train page: a run's model (a LoRA merged into it) as a zip of a standalone folder with its model
card, built by core.publish.export and offered as a download."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import models
from core.errors import UserError
from core.publish import export
from dashboard import warm_imports
from dashboard.i18n import error_text, t
from dashboard.safe_text import md_escape


def render(workspace, run_dir: Path) -> None:
    names = [name for name in models.local_models(workspace) if name.startswith(f"{run_dir.name}/")]
    if not names:
        return
    with st.expander(t("export.title")):
        st.caption(t("export.intro"))
        pick, go = st.columns([3, 1])
        name = pick.selectbox(t("export.model"), names, key=f"export.pick.{run_dir.name}")
        built = st.session_state.get(f"export.zip.{run_dir.name}")  # the bytes of this session's last export
        if go.button(t("export.build"), key=f"export.build.{run_dir.name}", type="primary"):
            with st.status(t("export.building")) as status:  # a minute of work: each phase says what it does
                try:
                    warm_imports.warm()  # torch and transformers: imported by the server's one background thread
                    built = (name, export.export_zip(name, merge=True, workspace=workspace,
                                                     on_phase=lambda phase: status.update(label=t(f"export.phase.{phase}"))))
                    status.update(label=t("export.built"), state="complete")
                except UserError as error:
                    status.update(state="error")
                    st.error(md_escape(error_text(error)))
                    built = None
            st.session_state[f"export.zip.{run_dir.name}"] = built
        if built and built[0] == name:
            st.download_button(t("export.download"), built[1], file_name=f"{name.replace('/', '-')}.zip",
                               mime="application/zip", key=f"export.download.{run_dir.name}")
