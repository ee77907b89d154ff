"""The cleaning recipe as widgets: one row per step, a toggle and its parameters, in the recipe's order.

The widgets are the draft; `current_recipe()` reads them back into a Recipe. Loading a recipe writes the widgets.
"""

from __future__ import annotations

import streamlit as st

from core.data.cleaning.recipe import Recipe, default_params
from dashboard.i18n import choice_labels, t

# Parameters whose values come from a fixed list.
CHOICES = {
    ("html_to_text", "mode"): ["auto", "extract", "strip"],
    ("convert_chinese", "direction"): ["t2s", "s2t", "tw2s", "hk2s", "s2tw"],
}
LANGUAGE_CODES = ["en", "zh", "ja", "ko", "fr", "de", "es", "ru", "it", "pt"]


def _key(step: str, param: str | None = None) -> str:
    return f"recipe.{step}.{param}" if param else f"recipe.{step}.enabled"


def apply(recipe: Recipe) -> None:
    """Put a recipe into the widgets (before they are drawn)."""
    st.session_state["recipe.order"] = [step.name for step in recipe.steps]
    for step in recipe.steps:
        st.session_state[_key(step.name)] = step.enabled
        for param, value in step.arguments().items():
            st.session_state[_key(step.name, param)] = list(value) if isinstance(value, tuple) else value


def _keys(names: list[str]) -> list[str]:
    return [_key(name) for name in names] + [_key(name, p) for name in names for p in default_params(name)]


def missing() -> bool:
    """True when the widgets hold no recipe (first visit, or Streamlit dropped them on a page switch)."""
    return "recipe.order" not in st.session_state or any(k not in st.session_state for k in keys())


def keys() -> list[str]:
    return ["recipe.order", *_keys(st.session_state.get("recipe.order", []))]


def _ensure_draft() -> None:
    if missing():
        apply(Recipe.default())


def current_recipe() -> Recipe:
    """The recipe the widgets show (the default recipe before the editor was first drawn)."""
    _ensure_draft()
    return Recipe.from_dict(
        {
            "steps": [
                {
                    "name": name,
                    "enabled": st.session_state[_key(name)],
                    "params": {p: st.session_state[_key(name, p)] for p in default_params(name)},
                }
                for name in st.session_state["recipe.order"]
            ]
        }
    )


def render() -> Recipe:
    _ensure_draft()  # the Data page's draft (dashboard.data.data_form) seeds the widgets first
    recipe = current_recipe()
    for step in recipe.steps:
        with st.container(border=True):
            st.toggle(t(f"step.{step.name}"), key=_key(step.name), help=t(f"step.{step.name}.help"))
            params = default_params(step.name)
            if params:  # drawn even when the step is off, so its values are kept
                columns = st.columns(min(3, len(params)))
                for i, (param, default) in enumerate(params.items()):
                    with columns[i % len(columns)]:
                        _param_widget(step.name, param, default, disabled=not step.enabled)
    return current_recipe()


def _param_widget(step: str, param: str, default, disabled: bool) -> None:
    key, label = _key(step, param), t(f"param.{param}")
    if (step, param) == ("exclude_documents", "keys"):  # chosen on the data map, not typed: shown as a count
        st.caption(t("recipe.excluded", n=len(st.session_state[key])))
    elif (step, param) in CHOICES:
        labels = choice_labels(f"{step}.{param}", CHOICES[(step, param)])
        st.selectbox(label, list(labels), key=key, disabled=disabled, format_func=labels.__getitem__)
    elif isinstance(default, bool):
        st.checkbox(label, key=key, disabled=disabled)
    elif isinstance(default, int) or default is None:  # None: no limit (quality_filter's max_chars), left empty
        st.number_input(label, key=key, step=1, min_value=0, disabled=disabled, placeholder=t("param.no_limit"))
    elif isinstance(default, float):
        st.number_input(label, key=key, step=0.05, min_value=0.0, format="%.2f", disabled=disabled)
    elif isinstance(default, (tuple, list)):
        labels = choice_labels("language", sorted(set(LANGUAGE_CODES) | set(st.session_state[key])))
        st.multiselect(label, list(labels), key=key, disabled=disabled, format_func=labels.__getitem__)
    else:
        st.text_input(label, key=key, disabled=disabled)
