"""Who is visiting, and what a rater's session may show: with sign-in configured or in the rater-only mode, anyone
who is not the owner gets one page (sign-in, then the rating sheet) and nothing else of the lab exists for them."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAuthError

from core import access
from core.errors import UserError
from core.ratings import raters
from core.ratings.store import open_store
from dashboard import sidebar
from dashboard.i18n import error_text, t
from dashboard.navigation import page_file
from dashboard.safe_text import md_escape

SIGNED_IN_RATER = "access.rater"  # rater-only mode: (rater id, name) after a valid invitation code


@dataclass(frozen=True)
class Visitor:
    role: str | None  # "owner", "rater", or None (not signed in yet)
    name: str | None = None  # the name their scores carry: from the identity or the invitation, never typed


def sign_in_configured() -> bool:
    return bool(st.secrets.load_if_toml_exists() and st.secrets.get("auth"))


def visitor() -> Visitor:
    if access.rate_mode():
        return _invited_rater()
    if not sign_in_configured():
        return Visitor("owner")
    if not st.user.is_logged_in:
        return Visitor(None)
    claims = st.user.to_dict()
    role = "owner" if access.is_owner(claims, access.owners()) else "rater"
    return Visitor(role, access.rater_name(claims))


def _invited_rater() -> Visitor:
    signed = st.session_state.get(SIGNED_IN_RATER)
    if signed:
        with open_store() as store:
            if raters.active(store, signed[0]):  # a revoked code ends the session at its next click
                return Visitor("rater", signed[1])
        del st.session_state[SIGNED_IN_RATER]
    return Visitor(None)


def serve_rater(person: Visitor) -> None:
    """The rater's lab: the sign-in, or the rating sheet (and the Write page when the owner chose models for it),
    whatever URL or query was asked for."""
    if person.role != "rater":
        names = ["sign_in"]
    else:
        names = ["rate", "write"] if access.rater_write_models() else ["rate"]
    pages = [st.Page(page_file(name), title=t(f"nav.{name}"), default=i == 0, url_path=None if i == 0 else name)
             for i, name in enumerate(names)]
    navigation = st.navigation(pages, position="sidebar" if len(pages) > 1 else "hidden")
    with st.sidebar:
        sidebar.language_choice()
    _signed_in_as(person.name)
    navigation.run()


def _signed_in_as(name: str | None) -> None:
    if name:
        with st.sidebar:
            st.caption(t("access.signed_in_as"))
            st.text(name)
            st.button(t("access.sign_out"), key="access.sign_out", on_click=sign_out)


def sign_out() -> None:
    if access.rate_mode():
        st.session_state.pop(SIGNED_IN_RATER, None)
    else:
        st.logout()


def sign_in_with_code(code: str) -> None:
    try:
        with open_store() as store:
            rater = raters.sign_in(store, code)
        st.session_state[SIGNED_IN_RATER] = (rater.id, rater.name)
    except UserError as error:
        st.error(md_escape(error_text(error)))


def sign_in_with_provider() -> None:
    try:
        st.login()
    except StreamlitAuthError as error:  # bad [auth] secrets under a plain `streamlit run` (the launcher checks them)
        st.error(t("access.sign_in_failed", reason=md_escape(str(error).strip().splitlines()[0])))


def owner_frame(person: Visitor) -> None:
    """On every owner's page: the sign-out when signed in, and a warning when the owner chose to serve the whole lab
    beyond this machine without sign-in."""
    _signed_in_as(person.name)
    if access.allow_open() and not access.is_loopback(st.get_option("server.address") or ""):
        st.warning(t("access.open_warning"))
