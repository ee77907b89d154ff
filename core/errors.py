"""The one exception type whose message is meant for a person, in the person's language.

A coded error (`UserError.coded("dataset_missing", name=...)`) takes its words from `error_texts.json`, where each code
has its English and Chinese text side by side (one home per message, read by the CLI and the dashboard alike; core
reads it itself because it never imports the dashboard). `UserError("english message")` still works: those sites are
listed in tests/test_error_codes.py until they are converted.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

TEXTS_FILE = Path(__file__).with_name("error_texts.json")


@cache
def error_texts() -> dict[str, dict[str, str]]:
    """{code: {"en": template, "zh": template}}; templates use str.format fields named like the error's values."""
    return json.loads(TEXTS_FILE.read_text(encoding="utf-8"))


def render(code: str, lang: str, values: dict) -> str:
    """The text of `code` in `lang`; a value that is itself a UserError (the cause being wrapped) is said in `lang` too."""
    texts = error_texts()[code]
    shown = {k: v.text(lang) if isinstance(v, UserError) else v for k, v in values.items()}
    return (texts.get(lang) or texts["en"]).format(**shown)


class UserError(Exception):
    """Bad input or an unmet precondition, with a message that says what is wrong and what to do.

    The command line prints it as one `error: ...` line; pages show it in an error box (`dashboard.i18n.error_text`).
    `code` and `values` are set for a coded error; `str()` is always the English text.
    """

    def __init__(self, message: str | None = None, /, *, code: str | None = None, **values):  # any value name works
        if code is None and (message is None or values):
            raise TypeError("UserError takes an English message, or code= with the values its text names")
        self.code, self.values = code, values
        super().__init__(render(code, "en", values) if code else message)

    @classmethod
    def coded(cls, code: str, **values) -> UserError:
        return cls(code=code, **values)

    def text(self, lang: str) -> str:
        """The message in `lang` ("en" or "zh"); an uncoded error has only its English words."""
        return render(self.code, lang, self.values) if self.code else str(self)


def environment_language(environ=os.environ) -> str:
    """The command line's language: zh when the locale variables say so (LC_ALL, then LC_MESSAGES, then LANG,
    the first one set wins, as gettext reads them), else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(name):
            return "zh" if environ[name].lower().startswith("zh") else "en"
    return "en"


def first_line(exc: BaseException) -> str:
    """An exception in one line for a person: a UserError's own words, else its type and its first line."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(exc, UserError) else f"{type(exc).__name__}: {first}".rstrip(": ")
