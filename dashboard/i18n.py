"""Every label goes through `t()`. The texts live in `locales/<lang>.json`, apart from the layout."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import streamlit as st

from core.errors import UserError

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"
LOCALES_DIR = Path(__file__).parent / "locales"


@cache
def texts(lang: str) -> dict[str, str]:
    return json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def current_language() -> str:
    lang = st.session_state.get("lang", DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def init_language() -> str:
    """The language lives in the session and in the URL (`?lang=zh`), so a reload keeps it."""
    if "lang" not in st.session_state:
        st.session_state["lang"] = st.query_params.get("lang", DEFAULT_LANGUAGE)
    lang = current_language()
    st.session_state["lang"] = lang
    st.query_params["lang"] = lang
    return lang


def t(key: str, **values) -> str:
    text = texts(current_language()).get(key) or texts(DEFAULT_LANGUAGE).get(key, key)
    return text.format(**values) if values else text


def choice_labels(group: str, values) -> dict:
    """Labels for a widget's choices, translated now: `choice.<group>.<value>` where the table has one, otherwise
    the value itself (a device id such as cuda:0 is the same in every language)."""
    return {v: t(f"choice.{group}.{v}") if f"choice.{group}.{v}" in texts(DEFAULT_LANGUAGE) else str(v) for v in values}


# A sample keeps its setting's name as it was made ("greedy", "top-p 0.9", "gallery step 50"): the lab's own default
# names are shown in the page's language, any name a user typed is shown as typed.
SETTING_NAMES = [(re.compile(r"greedy"), "setting.greedy"), (re.compile(r"top-k (\S+)"), "setting.top_k"),
                 (re.compile(r"top-p (\S+)"), "setting.top_p"), (re.compile(r"temperature (\S+)"), "setting.temperature"),
                 (re.compile(r"gallery step (\d+)"), "setting.gallery_step")]


def setting_label(name: str | None) -> str:
    """A stored decoding-setting name (config_name) as the page shows it; stored data is never rewritten."""
    for pattern, key in SETTING_NAMES:
        if name and (match := pattern.fullmatch(name)):
            return t(key, value=match.group(1)) if match.groups() else t(key)
    return name or "–"


def error_text(error: BaseException) -> str:
    """Any error in the page's language: a coded UserError's text in that language, any other its own words (plain
    text: the caller escapes it for markdown)."""
    return error.text(current_language()) if isinstance(error, UserError) else str(error)
