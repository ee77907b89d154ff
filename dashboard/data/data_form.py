"""The Data page's draft: where the text comes from, how it is read, and the cleaning recipe (dashboard.drafts).

Uploaded files are kept for the browser session only (their bytes stay in memory, not in the workspace): a page
switch keeps them, a reload asks for them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from core.data.cleaning.recipe import Recipe
from core.data.loading import LoadOptions
from core.errors import UserError
from dashboard.data import recipe_editor
from dashboard.drafts import Draft
from dashboard.i18n import t

WIDGETS = ["data.source", "data.txt_split", "data.text_fields", "data.csv_column", "data.folder", "data.hf_dataset"]
KEPT_UPLOADS = "data.kept_uploads"  # [(name, bytes)], with the cache key they were loaded under


@dataclass
class DataForm:
    source: str = "sample"  # sample, upload, folder or hf
    txt_split: str = "whole"
    text_fields: str = ", ".join(LoadOptions().text_fields)  # as typed: a comma list
    csv_column: str = LoadOptions().csv_column
    folder: str = ""
    hf_dataset: str = ""  # a hub id, user/name[:config][@split]
    recipe: dict = field(default_factory=lambda: Recipe.default().to_dict())


def draft(workspace) -> Draft:
    return Draft("data", DataForm, workspace)


def keep(form: Draft) -> None:
    """Before any Data widget is drawn: put the draft back into widgets that Streamlit dropped, and save what the
    widgets hold (a run starts with the values of the interaction that started it)."""
    _seed(form)
    _save(form)


def _seed(form: Draft) -> None:
    saved = form.load()
    form.seed({f"data.{name}": getattr(saved, name) for name in ("source", "txt_split", "text_fields", "csv_column",
                                                                 "folder", "hf_dataset")})
    if recipe_editor.missing():
        try:
            recipe_editor.apply(Recipe.from_dict(saved.recipe))
        except UserError:  # a recipe an older version wrote
            recipe_editor.apply(Recipe.default())


def _save(form: Draft) -> None:
    state = st.session_state
    form.save(DataForm(source=state["data.source"], txt_split=state["data.txt_split"],
                       text_fields=state["data.text_fields"], csv_column=state["data.csv_column"],
                       folder=state.get("data.folder", ""), hf_dataset=state.get("data.hf_dataset", ""), recipe=recipe_editor.current_recipe().to_dict()))


def uploads(new) -> tuple[str | None, list[tuple[str, bytes]] | None]:
    """(cache key, files): the files just uploaded, else those uploaded earlier in this session."""
    if new:
        kept = ("upload:" + ",".join(u.file_id for u in new), [(u.name, u.getvalue()) for u in new])
        st.session_state[KEPT_UPLOADS] = kept
        return kept
    kept = st.session_state.get(KEPT_UPLOADS)
    if not kept:
        return None, None
    st.caption(t("draft.kept_uploads", files=", ".join(name for name, _ in kept[1])))
    st.button(t("draft.forget_uploads"), key="data.forget_uploads", on_click=st.session_state.pop,
              args=(KEPT_UPLOADS, None))
    return kept


def reset_button(form: Draft) -> None:
    form.reset_button(t("draft.reset"), WIDGETS + recipe_editor.keys() + [KEPT_UPLOADS], key="data.reset")
