"""Checks before the server listens: no owner's pages beyond this machine without sign-in (or the owner's explicit
QUILL_ALLOW_OPEN=1), and a sign-in configuration that works. Each problem is one UserError line."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import tomllib

from core import access
from core.errors import UserError

DEFAULT_ADDRESS = "127.0.0.1"  # .streamlit/config.toml's
# What Streamlit's st.login needs (its docs: "redirect_uri and cookie_secret are shared across every provider").
SHARED_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
METADATA_TIMEOUT_S = 5


def check(argv: list[str]) -> None:
    """Raise a UserError when the server must not start with these command-line options and this environment."""
    if access.mode() not in access.MODES:
        raise UserError(f"{access.MODE_ENV}={access.mode()!r} is not a mode; use one of {', '.join(access.MODES)} "
                        "(make run MODE=rate serves only the rating sheet)")
    auth = auth_section(secrets_files(argv))
    if auth is not None:
        check_auth(auth)
        if not access.rate_mode() and not access.owners():
            raise UserError(f"sign-in is configured but no owner is named: set {access.OWNERS_ENV} to the owner's "
                            "e-mail addresses or subjects (comma-separated), or every visitor would be a rater")
    refuse_open_bind(option(argv, "server.address") or os.environ.get("STREAMLIT_SERVER_ADDRESS") or DEFAULT_ADDRESS,
                     signed_in=auth is not None)


def refuse_open_bind(address: str, signed_in: bool) -> None:
    """The owner's pages start training, read files and load models: beyond this machine only behind sign-in,
    in the rater-only mode, or when the owner says so."""
    if access.is_loopback(address) or signed_in or access.rate_mode() or access.allow_open():
        return
    raise UserError(
        f"refusing to serve the whole lab on {address or 'every interface'} without sign-in: configure [auth] in "
        f".streamlit/secrets.toml (README, \"Raters' access\"), serve only the rating sheet with MODE=rate "
        f"({access.MODE_ENV}=rate), or set {access.ALLOW_OPEN_ENV}=1 to serve it to anyone who can reach it")


def option(argv: list[str], name: str) -> str | None:
    """A Streamlit option's last value on the command line (`--name V` or `--name=V`), None if absent."""
    value = None
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


def secrets_files(argv: list[str]) -> list[Path]:
    """Where Streamlit will read secrets: `--secrets.files` if given, else its own default places."""
    given = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--secrets.files"]
    given += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--secrets.files=")]
    if given:
        return [Path(p) for p in given]
    # lazy: streamlit takes ~340 ms to import, and only this path needs it
    from streamlit.config import get_config_files

    return [Path(p) for p in get_config_files("secrets.toml")]


def auth_section(files: list[Path]) -> dict | None:
    """The `[auth]` table of the secrets files (later files win, as in Streamlit), None when there is none."""
    merged: dict = {}
    for path in files:
        if not path.is_file():
            continue
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")).get("auth") or {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read {path}: {error}; fix its TOML") from None
    return merged or None


def check_auth(auth: dict) -> None:
    """Every key Streamlit's sign-in needs, and each provider's metadata reachable (seconds, not at first sign-in)."""
    missing = [key for key in SHARED_KEYS if not auth.get(key)]
    providers = {name: table for name, table in auth.items() if isinstance(table, dict)}
    if not providers:
        providers = {"default": auth}
    for name, table in providers.items():
        missing += [key if name == "default" else f"{name}.{key}" for key in PROVIDER_KEYS if not table.get(key)]
    if missing:
        raise UserError(f"the [auth] section of .streamlit/secrets.toml lacks {', '.join(missing)}; "
                        "see the README's \"Raters' access\" for an example")
    if not str(auth["redirect_uri"]).endswith("/oauth2callback"):
        raise UserError(f"[auth] redirect_uri {auth['redirect_uri']!r} must end with /oauth2callback")
    for table in providers.values():
        provider_metadata(table["server_metadata_url"])


def provider_metadata(url: str) -> dict:
    """The provider's OpenID configuration, or a UserError naming the address and what to check."""
    try:
        with urllib.request.urlopen(url, timeout=METADATA_TIMEOUT_S) as response:
            metadata = json.loads(response.read())
    except (OSError, ValueError) as error:
        raise UserError(f"the sign-in provider at {url} cannot be reached ({error}); check server_metadata_url in "
                        ".streamlit/secrets.toml and that the provider is up") from None
    if not isinstance(metadata, dict) or "authorization_endpoint" not in metadata:
        raise UserError(f"{url} is not an OpenID Connect configuration (no authorization_endpoint); point "
                        "server_metadata_url at the provider's /.well-known/openid-configuration")
    return metadata
