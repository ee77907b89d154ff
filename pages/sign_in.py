"""Sign-in: through the lab's identity provider, or (rater-only mode) with an invitation code."""

import streamlit as st

from core import access
from dashboard import access as visitors
from dashboard.i18n import t

st.title(t("access.title"))
st.markdown(t("access.intro"))
if access.rate_mode():
    with st.form("access.code_form"):
        code = st.text_input(t("access.code"), type="password", key="access.code")
        if st.form_submit_button(t("access.sign_in"), type="primary"):
            visitors.sign_in_with_code(code)
    if st.session_state.get(visitors.SIGNED_IN_RATER):
        st.rerun()
else:
    if st.button(t("access.sign_in"), type="primary", key="access.sign_in"):
        visitors.sign_in_with_provider()
