"""The Playground's pieces: the columns of decoding settings, the grid of samples, and the token view."""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field, fields, replace

import streamlit as st

from core.errors import UserError
from core.playground import grid
from core.playground import presets as sampling_presets
from core.playground.grid import GridItem, GridProblem
from core.playground.sampling import DEFAULT_CONFIGS, DecodingConfig, Sample
from core.playground.token_text import token_label
from core.ratings.schema import SampleRecord
from core.ratings.store import open_store
from dashboard.drafts import Draft
from dashboard.i18n import error_text, setting_label, t
from dashboard.playground import playground_state
from dashboard.safe_text import md_escape

MAX_COLUMNS = 8
FIELDS = [f.name for f in fields(DecodingConfig)]


def _key(column: int, field: str) -> str:
    return f"pg.col.{column}.{field}"


def apply(configs: list[DecodingConfig]) -> None:
    """Put a set of columns into the widgets (before they are drawn)."""
    st.session_state["pg.columns"] = len(configs)
    for i, config in enumerate(configs):
        for name, value in config.to_dict().items():
            st.session_state[_key(i, name)] = value


@dataclass
class PlaygroundForm:
    """The Playground's draft (dashboard.drafts): kept across page switches and reloads."""

    models: list[str] = field(default_factory=lambda: ["starter"])
    prompts: str = "The lighthouse keeper\n青石镇的早晨"
    columns: list[DecodingConfig] = field(default_factory=lambda: [replace(c) for c in DEFAULT_CONFIGS])


def init(workspace, choices: list[str], wanted: str | None) -> None:
    """Before any Playground widget is drawn: seed the widgets from the draft where Streamlit dropped them (first
    visit, a page switch), then save what they hold. `wanted`: a model asked for by "Open in Playground"."""
    form = Draft("playground", PlaygroundForm, workspace)
    saved = form.load()
    form.seed({"pg.models": [m for m in saved.models if m in choices], "pg.prompts": saved.prompts})
    if wanted and st.session_state.get("pg.wanted") != wanted:  # a new link: its model first, once
        st.session_state["pg.wanted"] = wanted
        st.session_state["pg.models"] = list(dict.fromkeys([wanted, *st.session_state["pg.models"]]))
    if "pg.columns" not in st.session_state:
        apply(saved.columns or DEFAULT_CONFIGS)
    for i in range(MAX_COLUMNS):
        for name in FIELDS:
            if _key(i, name) not in st.session_state:
                st.session_state[_key(i, name)] = getattr(DecodingConfig(name=f"column {i + 1}", do_sample=True), name)
    columns = [DecodingConfig(**{f: st.session_state[_key(i, f)] for f in FIELDS})  # as typed, even if invalid
               for i in range(st.session_state["pg.columns"])]
    form.save(PlaygroundForm(list(st.session_state["pg.models"]), st.session_state["pg.prompts"], columns))
    st.session_state["pg.draft_keys"] = ["pg.models", "pg.prompts", "pg.columns", "pg.wanted",
                                         *(_key(i, f) for i in range(MAX_COLUMNS) for f in FIELDS)]


def reset_button(workspace) -> None:
    Draft("playground", PlaygroundForm, workspace).reset_button(t("draft.reset"), st.session_state["pg.draft_keys"],
                                                                key="pg.reset")


def render_columns() -> list[DecodingConfig]:
    """One bordered box per column; returns the configs (raises UserError when one is invalid)."""
    count = st.slider(t("pg.columns"), 1, MAX_COLUMNS, key="pg.columns")
    boxes = st.columns(count)
    for i, box in enumerate(boxes):
        with box.container(border=True):
            st.text_input(t("pg.name"), key=_key(i, "name"))
            sampling = st.toggle(t("pg.do_sample"), key=_key(i, "do_sample"))
            st.number_input(t("pg.temperature"), 0.05, 5.0, step=0.1, key=_key(i, "temperature"), disabled=not sampling)
            st.number_input(t("pg.top_k"), 0, 1000, step=5, key=_key(i, "top_k"), disabled=not sampling)
            st.number_input(t("pg.top_p"), 0.01, 1.0, step=0.05, key=_key(i, "top_p"), disabled=not sampling)
            st.number_input(t("pg.repetition_penalty"), 0.5, 3.0, step=0.05, key=_key(i, "repetition_penalty"))
            st.number_input(t("pg.no_repeat_ngram_size"), 0, 10, step=1, key=_key(i, "no_repeat_ngram_size"))
            st.number_input(t("pg.max_new_tokens"), 1, 512, step=8, key=_key(i, "max_new_tokens"))
            st.number_input(t("pg.num_samples"), 1, 8, step=1, key=_key(i, "num_samples"))
            st.number_input(t("pg.seed"), 0, 2**31 - 1, step=1, key=_key(i, "seed"))
            st.toggle(t("pg.valid_utf8"), key=_key(i, "valid_utf8"), help=t("pg.valid_utf8_help"))
    return current_configs()


def settings_line(config: DecodingConfig) -> str:
    if not config.do_sample:
        return t("pg.greedy_line", tokens=config.max_new_tokens)
    return t("pg.sampling_line", temperature=config.temperature, top_k=config.top_k or "–",
             top_p=config.top_p, seed=config.seed)


def stats_line(stats: dict) -> str:
    line = t("pg.stats", tokens=stats["length_tokens"], d1=stats["distinct_1"], d2=stats["distinct_2"],
             rep=stats["repetition_rate"], ppl=stats["perplexity"] or 0)
    if stats.get("memorized"):
        line += " · " + t("pg.memorized", chars=stats["longest_shared_chars"])
    return line


# Long runs without a space (「，，，，」, "househouse…") break anywhere rather than spill into the next column.
WRAP = "white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;min-width:0"


def prompts_of(text: str, one_per_line: bool) -> list[str]:
    """The prompt box's prompts: one per non-empty line, or the whole draft as one prompt."""
    if not one_per_line:
        return [text] if text.strip() else []
    return [line for line in text.splitlines() if line.strip()]


def token_view(sample: Sample, tokenizer, step: int) -> None:
    """Each token shaded by the probability the model gave it; the candidates of one chosen step."""
    spans = []
    for token_id, logprob in zip(sample.token_ids, sample.token_logprobs):
        prob = min(1.0, max(0.0, 2.718281828 ** logprob))
        text = html.escape(token_label(tokenizer, token_id))
        spans.append(f'<span title="p={prob:.3f}" style="background:rgba(61,107,140,{0.08 + 0.6 * prob:.2f});'
                     f'border-radius:3px;padding:1px 1px;margin:0 1px">{text}</span>')
    st.html(f'<div style="{WRAP};line-height:1.9;font-size:0.95rem">' + "".join(spans) + "</div>")
    if sample.steps and step < len(sample.steps):
        chosen = sample.steps[step]
        rows = [{t("pg.token"): repr(c.text), t("pg.probability"): round(c.prob, 4),
                 t("pg.cut"): t(f"pg.cut.{c.cut}") if c.cut else "", t("pg.chosen"): "✓" if c.token_id == chosen.token_id else ""}
                for c in chosen.candidates]
        if all(c.token_id != chosen.token_id for c in chosen.candidates):  # sampled from beyond the top ones
            rows.append({t("pg.token"): repr(token_label(tokenizer, chosen.token_id)),
                         t("pg.probability"): round(math.exp(sample.token_logprobs[step]), 4), t("pg.cut"): "",
                         t("pg.chosen"): t("pg.chosen_outside", k=len(chosen.candidates))})
        st.dataframe(rows, hide_index=True, width="stretch")


def render_presets(workspace) -> None:
    """Save the columns under a name, load saved ones, or download/upload them as a settings file."""
    saved = sampling_presets.names(workspace)
    left, right = st.columns(2)
    with left:
        pick = st.selectbox(t("pg.preset_saved"), saved, key="pg.preset.pick", placeholder=t("pg.preset_none"))
        if st.button(t("pg.preset_load"), disabled=not saved, key="pg.preset.load"):
            apply(sampling_presets.load(workspace, pick))
            st.rerun()
        uploaded = st.file_uploader(t("pg.preset_upload"), type=["json"], key="pg.preset.upload")
        if uploaded is not None and st.session_state.get("pg.preset.applied") != uploaded.file_id:
            try:
                apply(sampling_presets.loads(uploaded.getvalue().decode("utf-8", errors="replace")))
                st.session_state["pg.preset.applied"] = uploaded.file_id
                st.rerun()
            except UserError as error:
                st.error(md_escape(error_text(error)))
    with right:
        name = st.text_input(t("pg.preset_name"), key="pg.preset.name", placeholder=t("pg.preset_name.placeholder"))
        try:
            current = current_configs()
            if st.button(t("pg.preset_save"), key="pg.preset.save", disabled=not name):
                sampling_presets.save(workspace, name, current)
                st.success(t("pg.preset_saved_as", name=md_escape(name)))
            st.download_button(t("pg.preset_download"), sampling_presets.dumps(current), "settings.json",
                               "application/json", key="pg.preset.download")
        except UserError as error:
            st.error(md_escape(error_text(error)))


def current_configs() -> list[DecodingConfig]:
    return [DecodingConfig.from_dict({f: st.session_state[_key(i, f)] for f in FIELDS})
            for i in range(st.session_state["pg.columns"])]


def live_boxes(configs: list[DecodingConfig]) -> dict:
    """A placeholder per generated row, under its column, for text streamed as it is generated."""
    boxes, row = {}, 0
    for column, config in zip(st.columns(len(configs)), configs):
        column.caption(f"**{md_escape(setting_label(config.name))}**")
        for _ in range(config.num_samples):
            boxes[row] = column.empty()
            row += 1
    return boxes


def live_cell(configs: list[DecodingConfig]):
    """`on_cell` for the grid: a heading and a box per row for each (model, prompt), redrawn a few times a second."""

    def on_cell(model_name: str, prompt: str):
        st.markdown(f"**{md_escape(model_name)}** · {md_escape(prompt)}")
        boxes, texts, flushed = live_boxes(configs), {}, [0.0]

        def on_token(row: int, piece: str) -> None:
            texts[row] = texts.get(row, "") + piece
            if time.monotonic() - flushed[0] > 0.15:  # redraw a few times a second, not per token
                flushed[0] = time.monotonic()
                for r, box in boxes.items():
                    box.html(f'<div style="{WRAP}">{html.escape(prompt + texts.get(r, ""))}</div>')

        return on_token

    return on_cell


def problem_lines(problems: list[GridProblem]) -> list[str]:
    return [t("pg.cannot_load", model=md_escape(p.model), error=md_escape(p.error)) if p.loading else md_escape(p.error)
            for p in problems]


def render_results(items: list[GridItem], workspace) -> None:
    groups: dict[tuple, list[tuple[int, GridItem]]] = {}
    for number, item in enumerate(items):
        groups.setdefault((item.record.model, item.record.prompt), []).append((number, item))
    for (model_name, prompt), group in groups.items():
        st.subheader(f"{md_escape(model_name)} · {md_escape(prompt)}")
        names = list(dict.fromkeys(i.record.config_name for _, i in group))
        for column, name in zip(st.columns(len(names)), names):
            with column:
                mine = [(n, i) for n, i in group if i.record.config_name == name]
                st.markdown(f"**{md_escape(setting_label(name))}**")
                st.caption(settings_line(DecodingConfig.from_dict(mine[0][1].record.settings)))
                for number, item in mine:
                    with st.container(border=True):
                        st.html(f'<div style="{WRAP}"><b>{html.escape(prompt)}</b>'
                                f'{html.escape(item.record.text)}</div>')
                        st.caption(stats_line(item.record.stats))
                        st.checkbox(t("pg.pick"), key=_pick_key(item, number))

    picked = {_pick_key(item, n): item.record for n, item in enumerate(items) if st.session_state.get(_pick_key(item, n))}
    st.button(t("pg.send", n=len(picked)), disabled=not picked, key="pg.send", on_click=_send, args=(picked,))
    new, existing = st.session_state.pop("pg.sent", (0, 0))
    if new:
        st.success(t("pg.sent", n=new))
    if existing:  # a sample's identity is its provenance and text: sending it again adds nothing
        st.info(t("results.already_stored", n=existing))

    st.subheader(t("pg.token_view"))
    labels = {n: f"{i.record.model} · {setting_label(i.record.config_name)} · #{i.record.sample_index} · {i.record.prompt[:20]}"
              for n, i in enumerate(items)}
    number = st.selectbox(t("pg.token_sample"), list(labels), format_func=labels.get, key="pg.token.sample")
    item = items[number]
    steps = len(item.sample.steps or [])
    step = st.slider(t("pg.token_step"), 0, max(steps - 1, 1), 0, key="pg.token.step") if steps else 0
    token_view(item.sample, playground_state.model(item.record.model)[0], step)


def _send(picked: dict[str, SampleRecord]) -> None:
    """"Send to ratings", run as the button's callback: before the checkboxes are drawn, so they can be unticked."""
    with open_store() as store:
        added = grid.record_grid(store, list(picked.values()))
    st.session_state["pg.sent"] = (added.new, added.existing)
    for key in picked:
        st.session_state[key] = False


def _pick_key(item: GridItem, number: int) -> str:
    return f"pg.pick.{item.record.batch}.{number}"
