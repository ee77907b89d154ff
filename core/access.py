"""Who may use the lab: the owner has all of it, a rater only the rating sheet.

With a sign-in provider (Streamlit's `[auth]` secrets), the owner's identities are listed in `QUILL_OWNERS` (e-mail
addresses or subjects, comma-separated) and every other signed-in person is a rater named by their identity.
Without one, the rater-only mode (`QUILL_MODE=rate`, `make run MODE=rate`) lets in raters with invitation codes.
`QUILL_RATER_WRITE_MODELS` (model names, comma-separated) also gives raters the Write page, on those models only.
"""

from __future__ import annotations

import ipaddress
import os

OWNERS_ENV = "QUILL_OWNERS"
MODE_ENV = "QUILL_MODE"  # "rate": serve only the rating sheet, to raters with invitation codes
ALLOW_OPEN_ENV = "QUILL_ALLOW_OPEN"  # "1": the owner's pages on a non-loopback address without sign-in
RATER_WRITE_MODELS_ENV = "QUILL_RATER_WRITE_MODELS"  # the models raters may write with; empty: no Write page
MODES = ("lab", "rate")  # the whole lab (the default), or the rater-only mode


def owners() -> set[str]:
    """The owner's identities, lower-cased (e-mail addresses compare without case)."""
    return {name.strip().lower() for name in os.environ.get(OWNERS_ENV, "").split(",") if name.strip()}


def is_owner(claims: dict, owner_ids: set[str]) -> bool:
    """Whether a signed-in identity's e-mail or subject is one of the owner's."""
    ids = {str(claims.get(key) or "").strip().lower() for key in ("email", "sub")} - {""}
    return bool(ids & owner_ids)


def rater_name(claims: dict) -> str:
    """The name a signed-in person's scores carry: their e-mail, else the provider's subject (never typed)."""
    return str(claims.get("email") or claims.get("sub") or "").strip()


def rater_write_models() -> list[str]:
    """The models the owner lets raters write with, in the owner's order, each once."""
    listed = os.environ.get(RATER_WRITE_MODELS_ENV, "").split(",")
    return list(dict.fromkeys(name.strip() for name in listed if name.strip()))


def mode() -> str:
    return os.environ.get(MODE_ENV, "").strip().lower() or "lab"


def rate_mode() -> bool:
    return mode() == "rate"


def allow_open() -> bool:
    return os.environ.get(ALLOW_OPEN_ENV, "").strip() == "1"


def is_loopback(address: str) -> bool:
    """127.0.0.1, ::1, localhost: reachable only from this machine. An empty address means every interface."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "": it may resolve beyond this machine
