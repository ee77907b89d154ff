"""A form's draft: one dataclass per form, kept per browser session and saved in the workspace.

Streamlit drops the state of widgets that a run does not draw, so a page switch would reset every form. The draft
lives under a non-widget session key (kept across pages) and in `<workspace>/drafts/<name>.json` (written
atomically when it changes, so a reload or a new tab restores it). The widgets are seeded from it whenever
Streamlit has dropped their keys:

    draft = Draft("train", TrainConfig, workspace)
    draft.seed(widget_values(draft.load()))   # before the widgets are drawn
    ...draw the widgets (keys only, no value= arguments)...
    draft.save(config_read_from_the_widgets)
    draft.reset_button(label, widget_keys)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Generic, TypeVar

import streamlit as st

from core import dataclass_json
from core.errors import UserError
from core.files import write_text_atomic
from core.workspace import Workspace
from dashboard.i18n import t

T = TypeVar("T")


class Draft(Generic[T]):
    def __init__(self, name: str, cls: type[T], workspace: Workspace, default: Callable[[], T] | None = None):
        self.name, self.cls, self.default = name, cls, default or cls
        self.path = workspace.root / "drafts" / f"{name}.json"
        self._key = f"draft.{name}"  # the session's copy: not a widget key, so no page switch drops it

    def load(self) -> T:
        """The session's draft; else the one saved in the workspace; else the dataclass's defaults."""
        if self._key not in st.session_state:
            st.session_state[self._key] = self._read() or self.default()
        return st.session_state[self._key]

    def _read(self) -> T | None:
        try:
            text = self.path.read_text(encoding="utf-8")
            value = dataclass_json.from_dict(self.cls, dataclass_json.parse(text, where=str(self.path)))
        except (OSError, UnicodeDecodeError, UserError):
            return None  # none yet, or one an older version of the form wrote: start from the defaults
        problem = _unkeepable(value)
        if problem:  # shared by every visitor: one bad value must not break the page for all of them
            st.warning(t("draft.ignored", reason=problem))
            return None
        return value

    def save(self, value: T) -> None:
        """Keep `value` for this session, and write it to the workspace when it differs from what is there."""
        st.session_state[self._key] = value
        text = json.dumps(dataclasses.asdict(value), ensure_ascii=False, indent=1)
        if st.session_state.get(self._key + ".written") == text:
            return
        problem = _unkeepable(value)
        try:
            if problem:
                raise ValueError(problem)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, text)  # a reader (another tab) sees the old draft or the new one
        except (OSError, ValueError) as error:  # a full or read-only disk: the form still works, for this session
            st.warning(t("draft.unsaved", reason=problem or getattr(error, "strerror", None) or error))
            return
        st.session_state[self._key + ".written"] = text

    def seed(self, widgets: dict[str, object]) -> None:
        """Give each widget key its draft value where Streamlit has none (first visit, or dropped on a page switch)."""
        for key, value in widgets.items():
            if key not in st.session_state:
                st.session_state[key] = value

    def reset(self, widget_keys=()) -> None:
        """Forget the draft (session and file) and the widgets' values: the next run seeds the defaults."""
        for key in [self._key, self._key + ".written", *widget_keys]:
            st.session_state.pop(key, None)
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            st.warning(t("draft.unsaved", reason=error.strerror or error))

    def reset_button(self, label: str, widget_keys, key: str | None = None) -> None:
        # A callback runs before the widgets are drawn, so it may drop their values.
        st.button(label, key=key or f"{self._key}.reset", on_click=self.reset, args=(list(widget_keys),))


def _unkeepable(value) -> str | None:
    """Why a draft must not be saved for the next visitor: a NUL character, which no folder name or prompt holds
    and which the OS refuses in a path (ValueError)."""
    return "a NUL character" if any("\0" in text for text in _texts(dataclasses.asdict(value))) else None


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (dict, list, tuple)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _texts(item)
