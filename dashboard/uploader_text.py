"""The file uploader's own words in the app's language.

Streamlit draws its uploader's button ("Upload") and size limit ("200MB per file") in English whatever the page's
language, and has no option to change them; the label above it is ours already. In another language a style rule
hides those words and shows the translated ones in their place (CSS generated content), on every page.
"""

from __future__ import annotations

import json

import streamlit as st

from dashboard.i18n import DEFAULT_LANGUAGE, current_language, t

BUTTON = '[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p'
LIMIT = '[data-testid="stFileUploaderDropzoneInstructions"] span'


def css() -> str:
    """The style rules for the current language ("" in the default one, whose words Streamlit already uses)."""
    if current_language() == DEFAULT_LANGUAGE:
        return ""
    limit = t("uploader.limit", size=size_text(st.get_option("server.maxUploadSize")))
    # quoted as a CSS string (a translation may hold quotes or backslashes; non-ASCII stays as it is)
    return (f"{BUTTON}, {LIMIT} {{font-size: 0}}\n"
            f"{BUTTON}::after {{content: {_quoted(t('uploader.button'))}; font-size: 0.875rem}}\n"
            f"{LIMIT}::after {{content: {_quoted(limit)}; font-size: 0.875rem}}")


def size_text(megabytes: int) -> str:
    """The limit in Streamlit's own unit (2048 MB reads "2GB" in English), so that both languages say one number."""
    return f"{megabytes // 1024}GB" if megabytes >= 1024 and megabytes % 1024 == 0 else f"{megabytes}MB"


def _quoted(words: str) -> str:
    return json.dumps(words, ensure_ascii=False)  # JSON's \" and \\ are CSS's escapes too


def apply() -> None:
    rules = css()
    if rules:
        st.html(f"<style>{rules}</style>")  # style alone: Streamlit adds it to the page without taking space
