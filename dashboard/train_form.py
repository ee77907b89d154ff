"""The Train page's form: presets, every option as a widget, live validation and a memory estimate.

The widgets hold the draft under `train.<field>` keys; `read()` turns them into a TrainConfig.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core import models
from core.hardware import Hardware, format_bytes
from core.train.config import PRECISIONS, PRESETS, SCHEDULERS, TrainConfig, apply_preset, check
from core.train.memory import estimate
from dashboard.drafts import Draft
from dashboard.i18n import t
from dashboard.safe_text import md_escape

FIELDS = [f for f in TrainConfig().to_dict() if f not in ("resume_from", "gallery_prompts")]


def _key(field: str) -> str:
    return f"train.{field}"


def load_preset(preset: str, dataset: str = "") -> None:
    config = apply_preset(TrainConfig(dataset=dataset), preset)
    for field, value in config.to_dict().items():
        if field == "gallery_prompts":
            st.session_state["train.gallery_prompts"] = "\n".join(value)
        elif field in FIELDS:
            st.session_state[_key(field)] = value


def _apply_chosen_preset() -> None:
    # Read at click time: the preset may have been changed in the same rerun as the click.
    load_preset(st.session_state["train.preset"], st.session_state[_key("dataset")])


def widget_values(config: TrainConfig) -> dict:
    values = {_key(f): v for f, v in config.to_dict().items() if f in FIELDS}
    values["train.gallery_prompts"] = "\n".join(config.gallery_prompts)
    return values


def draft(workspace, datasets: list[str]) -> Draft:
    """The form's draft (dashboard.drafts): the quick CPU preset on the first dataset until the user changes it."""
    return Draft("train", TrainConfig, workspace,
                 default=lambda: apply_preset(TrainConfig(dataset=datasets[0] if datasets else ""), "quick_cpu"))


def _ensure_draft(form: Draft, datasets: list[str]) -> None:
    saved = form.load()
    if datasets and saved.dataset not in datasets:  # deleted since the draft was saved
        saved = replace(saved, dataset=datasets[0])
    form.seed(widget_values(saved))


def device_options(hw: Hardware) -> list[str]:
    options = ["cpu"] + [f"cuda:{g.index}" for g in hw.gpus]
    return options + ["all"] if len(hw.gpus) > 1 else options


def render(datasets: list[str], hw: Hardware, workspace) -> TrainConfig:
    form = draft(workspace, datasets)
    _ensure_draft(form, datasets)
    presets = {p: t(f"train.preset.{p}") for p in PRESETS}
    preset_column, button_column = st.columns([3, 1])
    preset_column.selectbox(t("train.preset"), list(presets), format_func=presets.get, key="train.preset")
    button_column.button(t("train.apply_preset"), on_click=_apply_chosen_preset, key="train.apply", width="stretch")

    data, model = st.columns(2)
    data.selectbox(t("train.dataset"), datasets, key=_key("dataset"))
    model_options = list(dict.fromkeys([*models.local_models(workspace), *models.HUB_MODELS, st.session_state[_key("model")]]))
    model.selectbox(t("train.model"), model_options, key=_key("model"), accept_new_options=True, help=t("train.model.help"))

    a, b, c, d = st.columns(4)
    a.number_input(t("train.block_size"), min_value=0, step=64, key=_key("block_size"))
    b.number_input(t("train.epochs"), min_value=0.0, step=1.0, key=_key("epochs"))
    c.number_input(t("train.max_steps"), min_value=0, step=50, key=_key("max_steps"), help=t("train.max_steps.help"))
    d.number_input(t("train.learning_rate"), step=1e-5, format="%.1e", key=_key("learning_rate"))
    a.number_input(t("train.batch_size"), step=1, key=_key("batch_size"))
    b.number_input(t("train.grad_accum"), step=1, key=_key("grad_accum"))
    c.number_input(t("train.warmup_ratio"), min_value=0.0, max_value=0.99, step=0.01, key=_key("warmup_ratio"))
    d.number_input(t("train.weight_decay"), step=0.01, key=_key("weight_decay"))
    a.selectbox(t("train.scheduler"), SCHEDULERS, key=_key("scheduler"))
    b.number_input(t("train.eval_steps"), step=10, key=_key("eval_steps"))
    c.number_input(t("train.logging_steps"), step=1, key=_key("logging_steps"))
    d.number_input(t("train.early_stopping_patience"), min_value=0, step=1, key=_key("early_stopping_patience"))
    a.number_input(t("train.seed"), step=1, key=_key("seed"))
    b.selectbox(t("train.precision"), PRECISIONS, key=_key("precision"), help=t("train.precision.help"))
    devices = device_options(hw)
    if st.session_state[_key("device")] not in devices:
        st.session_state[_key("device")] = devices[-1] if hw.gpus else "cpu"
    c.selectbox(t("train.device"), devices, key=_key("device"))
    d.checkbox(t("train.gradient_checkpointing"), key=_key("gradient_checkpointing"))
    st.text_area(t("train.gallery_prompts"), key="train.gallery_prompts", height=80, help=t("train.gallery_prompts.help"))
    config = read()
    form.save(config)
    form.reset_button(t("draft.reset"), widget_values(config), key="train.reset")
    return config


def read() -> TrainConfig:
    values = {f: st.session_state[_key(f)] for f in FIELDS}
    values["gallery_prompts"] = [p for p in st.session_state["train.gallery_prompts"].splitlines() if p.strip()]
    values["block_size"] = values["block_size"] or None
    values["dataset"], values["model"] = values["dataset"] or "", values["model"] or ""  # an empty selectbox says None
    return TrainConfig.from_dict(values)


def render_problems(config: TrainConfig, arch, dataset_documents: int | None, gpus: int | None = None) -> bool:
    """Show what is wrong, in the user's language: the same check that `runs.start` makes. True when it can start."""
    problems = check(config, model_context=arch.n_positions if arch else None, gpus=gpus)
    messages = [t(f"problem.{p.code}", **{k: md_escape(v) for k, v in p.values.items()}) for p in problems]
    if config.dataset and dataset_documents == 0:
        messages.append(t("problem.empty_dataset"))
    for message in messages:
        st.error(message)
    return not messages


def render_memory(config: TrainConfig, hw: Hardware, arch) -> bool:
    """The estimate against what is free; True when it exceeds the device's whole memory (Start then asks)."""
    if arch is None or not config.block_size or config.batch_size < 1:
        st.caption(t("train.memory.unknown"))
        return False
    on_gpu = config.device != "cpu" and bool(hw.gpus)
    half = on_gpu and config.precision != "fp32"

    def total(batch: int, checkpointing: bool) -> int:
        return estimate(arch, block_size=config.block_size, batch_size=batch, half_precision=half,
                        gradient_checkpointing=checkpointing, on_gpu=on_gpu).total

    parts = estimate(arch, block_size=config.block_size, batch_size=config.batch_size, half_precision=half,
                     gradient_checkpointing=config.gradient_checkpointing, on_gpu=on_gpu)
    if on_gpu:
        chosen = [g for g in hw.gpus if config.device in ("all", "auto", f"cuda:{g.index}")] or hw.gpus
        free, where = min(g.free_bytes for g in chosen), chosen[0].name
        capacity = min(g.total_bytes for g in chosen)
    else:
        free, where = hw.ram_available_bytes, t("train.memory.ram")
        capacity = hw.ram_total_bytes
    st.markdown(t("train.memory.line", params=f"{arch.parameters / 1e6:.0f}M", weights=format_bytes(parts.weights),
                  gradients=format_bytes(parts.gradients), optimizer=format_bytes(parts.optimizer),
                  activations=format_bytes(parts.activations), total=format_bytes(parts.total),
                  free=format_bytes(free), where=md_escape(where)))
    st.progress(min(1.0, parts.total / max(free, 1)))
    if parts.total > free:
        for batch, checkpointing, key in [(config.batch_size // 2, config.gradient_checkpointing, "train.memory.halve"),
                                          (config.batch_size, True, "train.memory.checkpointing"),
                                          (max(1, config.batch_size // 4), True, "train.memory.both")]:
            if batch >= 1 and total(batch, checkpointing) <= free:
                st.warning(t("train.memory.too_big") + " " + t(key, batch=batch, accum=config.grad_accum * config.batch_size // batch))
                break
        else:
            st.warning(t("train.memory.too_big") + " " + t("train.memory.smaller"))
    return parts.total > capacity
