"""The lab's script: `python -m dashboard` (see `dashboard/__main__.py`) or `streamlit run dashboard/app.py`, from the
repository root."""

import streamlit as st

from core.workspace import Workspace  # the project is installed (pip install -e .), so no path edits
from dashboard import access, sidebar, uploader_text, warm_imports
from dashboard.i18n import init_language, t
from dashboard.navigation import HOME, PAGES, page_file

st.set_page_config(page_title="Quill Lab", page_icon="🪶", layout="wide")
init_language()
visitor = access.visitor()
if visitor.role != "owner":
    access.serve_rater(visitor)  # one page (sign-in or the rating sheet): no other page exists in this session
    st.stop()
access.owner_frame(visitor)
navigation = st.navigation(
    [
        # The home page lives at the root URL; every other page at /<name>.
        st.Page(page_file(name), title=t(f"nav.{name}"), icon=icon, default=True)
        if name == HOME
        else st.Page(page_file(name), title=t(f"nav.{name}"), icon=icon, url_path=name)
        for name, icon in PAGES
    ]
)
uploader_text.apply()
hardware = sidebar.render(Workspace.from_env())
navigation.run()
# After the page: torch and transformers import in a background thread that does not compete with the first page
# for the interpreter; a part of a page that needs them earlier imports them itself, under the same lock.
warm_imports.start()
sidebar.render_hardware(hardware)  # last: it may wait for torch, and the page should not
