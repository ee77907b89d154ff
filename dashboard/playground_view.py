"""The Playground's pieces: the columns of decoding settings, the grid of samples, and the token view."""

from __future__ import annotations

import html
from dataclasses import fields

import streamlit as st

from core import models
from core.errors import UserError
from core.playground import presets as sampling_presets
from core.playground.sampling import DEFAULT_CONFIGS, DecodingConfig, Sample
from core.ratings.store import open_store
from dashboard import playground_state
from dashboard.i18n import t
from dashboard.safe_text import md_escape

MAX_COLUMNS = 8
FIELDS = [f.name for f in fields(DecodingConfig)]


def _key(column: int, field: str) -> str:
    return f"pg.col.{column}.{field}"


def apply(configs: list[DecodingConfig]) -> None:
    """Put a set of columns into the widgets (before they are drawn)."""
    st.session_state["pg.columns"] = len(configs)
    for i, config in enumerate(configs):
        for field, value in config.to_dict().items():
            st.session_state[_key(i, field)] = value


def init() -> None:
    """Before any Playground widget is drawn: the default columns the first time, and keep the draft alive."""
    if "pg.columns" not in st.session_state:
        apply(DEFAULT_CONFIGS)
    for i in range(MAX_COLUMNS):
        for field in FIELDS:
            key = _key(i, field)
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]  # keep the columns across page visits
            else:
                st.session_state[key] = getattr(DecodingConfig(name=f"column {i + 1}", do_sample=True), field)


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


def token_view(sample: Sample, tokenizer, step: int) -> None:
    """Each token shaded by the probability the model gave it; the candidates of one chosen step."""
    spans = []
    for token_id, logprob in zip(sample.token_ids, sample.token_logprobs):
        prob = min(1.0, max(0.0, 2.718281828 ** logprob))
        text = html.escape(tokenizer.decode([token_id]))
        spans.append(f'<span title="p={prob:.3f}" style="background:rgba(61,107,140,{0.08 + 0.6 * prob:.2f});'
                     f'border-radius:3px;padding:1px 1px;margin:0 1px">{text}</span>')
    st.html('<div style="white-space:pre-wrap;line-height:1.9;font-size:0.95rem">' + "".join(spans) + "</div>")
    if sample.steps and step < len(sample.steps):
        chosen = sample.steps[step]
        rows = [{t("pg.token"): repr(c.text), t("pg.probability"): round(c.prob, 4),
                 t("pg.cut"): t(f"pg.cut.{c.cut}") if c.cut else "", t("pg.chosen"): "✓" if c.token_id == chosen.token_id else ""}
                for c in chosen.candidates]
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
                st.error(md_escape(error))
    with right:
        name = st.text_input(t("pg.preset_name"), key="pg.preset.name", placeholder="my-settings")
        try:
            current = current_configs()
            if st.button(t("pg.preset_save"), key="pg.preset.save", disabled=not name):
                sampling_presets.save(workspace, name, current)
                st.success(t("pg.preset_saved_as", name=md_escape(name)))
            st.download_button(t("pg.preset_download"), sampling_presets.dumps(current), "settings.json",
                               "application/json", key="pg.preset.download")
        except UserError as error:
            st.error(md_escape(error))


def current_configs() -> list[DecodingConfig]:
    return [DecodingConfig.from_dict({f: st.session_state[_key(i, f)] for f in FIELDS})
            for i in range(st.session_state["pg.columns"])]


def live_boxes(configs: list[DecodingConfig]) -> dict:
    """A placeholder per generated row, under its column, for text streamed as it is generated."""
    boxes, row = {}, 0
    for column, config in zip(st.columns(len(configs)), configs):
        column.caption(f"**{md_escape(config.name)}**")
        for _ in range(config.num_samples):
            boxes[row] = column.empty()
            row += 1
    return boxes


def result(model_name: str, sample: Sample, configs: list[DecodingConfig], sample_stats: dict, batch: str) -> dict:
    config = next(c for c in configs if c.name == sample.config)
    return {"model": model_name, "sample": sample, "settings": config.to_dict(), "stats": sample_stats, "batch": batch}


def render_results(results: list[dict], workspace) -> None:
    groups: dict[tuple, list[dict]] = {}
    for number, item in enumerate(results):
        item["number"] = number
        groups.setdefault((item["model"], item["sample"].prompt), []).append(item)
    for (model_name, prompt), items in groups.items():
        st.subheader(f"{md_escape(model_name)} · {md_escape(prompt)}")
        names = list(dict.fromkeys(i["sample"].config for i in items))
        for column, name in zip(st.columns(len(names)), names):
            with column:
                settings = DecodingConfig.from_dict(next(i["settings"] for i in items if i["sample"].config == name))
                st.markdown(f"**{md_escape(name)}**")
                st.caption(settings_line(settings))
                for item in (i for i in items if i["sample"].config == name):
                    with st.container(border=True):
                        st.html(f'<div style="white-space:pre-wrap"><b>{html.escape(prompt)}</b>'
                                f'{html.escape(item["sample"].text)}</div>')
                        st.caption(stats_line(item["stats"]))
                        st.checkbox(t("pg.pick"), key=f"pg.pick.{item['batch']}.{item['number']}")

    picked = [i for i in results if st.session_state.get(f"pg.pick.{i['batch']}.{i['number']}")]
    if st.button(t("pg.send", n=len(picked)), disabled=not picked, key="pg.send"):
        records = []
        for item in picked:
            source, sample = models.resolve(item["model"], workspace), item["sample"]
            trained_on = models.training_dataset(item["model"], workspace)
            records.append({
                "model": item["model"], "checkpoint": source.location, "source": "playground",
                "run": item["model"].split("/")[0] if source.kind == "run" else None,
                "dataset": trained_on.name if trained_on else None, "prompt": sample.prompt, "text": sample.text,
                "settings": item["settings"], "seed": sample.seed, "sample_index": sample.sample_index,
                "config_name": sample.config, "stats": item["stats"], "batch": item["batch"],
            })
        store = open_store()
        try:
            added = store.insert_samples(records)
        finally:
            store.close()
        if added.new:
            st.success(t("pg.sent", n=added.new))
        if added.existing:  # a sample's identity is its provenance and text: sending it again adds nothing
            st.info(t("results.already_stored", n=added.existing))

    st.subheader(t("pg.token_view"))
    labels = {i["number"]: f"{i['model']} · {i['sample'].config} · #{i['sample'].sample_index} · {i['sample'].prompt[:20]}"
              for i in results}
    number = st.selectbox(t("pg.token_sample"), list(labels), format_func=labels.get, key="pg.token.sample")
    item = results[number]
    steps = len(item["sample"].steps or [])
    step = st.slider(t("pg.token_step"), 0, max(steps - 1, 1), 0, key="pg.token.step") if steps else 0
    token_view(item["sample"], playground_state.model(item["model"])[0], step)
