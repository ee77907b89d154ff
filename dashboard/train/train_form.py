"""The Train page's form: presets, every option as a widget, live validation and a memory estimate.

The widgets hold the draft under `train.<field>` keys; `read()` turns them into a TrainConfig.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core import models
from core.data import dataset
from core.dataclass_cli import kind as field_kind
from core.dataclass_cli import meta
from core.errors import UserError
from core.hardware import Hardware, format_bytes
from core.train import preference_data
from core.train.config import (
    LORA_METHODS,
    METHODS,
    PREFERENCE_METHODS,
    PRESETS,
    TrainConfig,
    apply_preset,
    check,
    fits_tokenizer,
)
from core.train.memory import estimate
from core.train.sizing import plan
from dashboard.drafts import Draft
from dashboard.i18n import choice_labels, t
from dashboard.safe_text import md_escape

FIELDS = [f for f in TrainConfig().to_dict() if f not in ("resume_from", "gallery_prompts", "lora_target_modules")]
TARGETS = "train.lora_target_modules"  # a text widget: module names, comma-separated


# The less-used numeric options, laid out from TrainConfig's own declaration: a new one appears here by itself.
MORE = [f for f in FIELDS if f in ("save_total_limit", "num_processes", "gallery_max_new_tokens", "gallery_seed",
                                   "dataloader_workers", "nodes", "node_rank", "main_process_port")]
SWITCHED = ("compile", "tf32", "attn_implementation")  # speed options with a few choices each (core.train.speed)


def _key(field: str) -> str:
    return f"train.{field}"


def _number(column, name: str, **options) -> None:
    """A number input labelled `train.<name>`, with the limits TrainConfig declares for the field."""
    limits = meta(TrainConfig, name)
    kind = field_kind(TrainConfig, name)  # float | None (empty = auto) reads as float
    for bound, widget in (("min", "min_value"), ("above", "min_value"), ("max", "max_value")):
        if limits.get(bound) is not None:  # `above` too: the check refuses the bound itself, with its message
            options.setdefault(widget, kind(limits[bound]))
    column.number_input(t(f"train.{name}"), key=_key(name), **options)


def load_preset(preset: str, dataset: str = "") -> None:
    config = apply_preset(TrainConfig(dataset=dataset), preset)
    for field, value in config.to_dict().items():
        if field == "gallery_prompts":
            st.session_state["train.gallery_prompts"] = "\n".join(value)
        elif field == "lora_target_modules":
            st.session_state[TARGETS] = ", ".join(value)
        elif field in FIELDS:
            st.session_state[_key(field)] = value


def _apply_chosen_preset() -> None:
    # Read at click time: the preset may have been changed in the same rerun as the click.
    load_preset(st.session_state["train.preset"], st.session_state[_key("dataset")])


def widget_values(config: TrainConfig) -> dict:
    values = {_key(f): v for f, v in config.to_dict().items() if f in FIELDS}
    values["train.gallery_prompts"] = "\n".join(config.gallery_prompts)
    values[TARGETS] = ", ".join(config.lora_target_modules)
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
    if st.session_state[_key("method")] in PREFERENCE_METHODS:
        _preference_source(data, workspace)
    else:
        data.selectbox(t("train.dataset"), datasets, key=_key("dataset"))
    model_options = list(dict.fromkeys([*models.local_models(workspace), *models.HUB_MODELS, st.session_state[_key("model")]]))
    model.selectbox(t("train.model"), model_options, key=_key("model"), accept_new_options=True, help=t("train.model.help"))

    budget, scratch, size, vocabulary, dropout = st.columns(5)
    budget.text_input(t("train.time_budget"), key=_key("time_budget"), help=t("train.time_budget.help"))
    scratch.checkbox(t("train.random_init"), key=_key("random_init"), help=t("train.random_init.help"))
    size.text_input(t("train.scratch_size"), key=_key("scratch_size"), help=t("train.scratch_size.help"))
    tokenizers = choice_labels("tokenizer", meta(TrainConfig, "tokenizer")["choices"])
    vocabulary.selectbox(t("train.tokenizer"), list(tokenizers), key=_key("tokenizer"),
                         format_func=tokenizers.__getitem__)
    _number(dropout, "dropout", step=0.05, help=t("train.dropout.help"))  # empty: auto (core.train.sizing)
    a, b, c, d = st.columns(4)
    _number(a, "block_size", step=64, min_value=0)  # 0 = the model's context (read() turns it into None)
    _number(b, "epochs", step=1.0)
    _number(c, "max_steps", step=50, help=t("train.max_steps.help"))
    _number(d, "learning_rate", step=1e-5, format="%.1e")
    _number(a, "batch_size", step=1)
    _number(b, "grad_accum", step=1)
    _number(c, "warmup_ratio", step=0.01)
    _number(d, "weight_decay", step=0.01, help=t("train.weight_decay.help"))  # empty: auto (core.train.sizing)
    schedulers = choice_labels("scheduler", meta(TrainConfig, "scheduler")["choices"])
    a.selectbox(t("train.scheduler"), list(schedulers), key=_key("scheduler"), format_func=schedulers.__getitem__)
    _number(b, "eval_steps", step=10)
    _number(c, "logging_steps", step=1)
    _number(d, "early_stopping_patience", step=1)
    _number(a, "seed", step=1)
    precisions = choice_labels("precision", meta(TrainConfig, "precision")["choices"])
    b.selectbox(t("train.precision"), list(precisions), key=_key("precision"), format_func=precisions.__getitem__,
                help=t("train.precision.help"))
    devices = device_options(hw)
    if st.session_state[_key("device")] not in devices:
        st.session_state[_key("device")] = devices[-1] if hw.gpus else "cpu"
    device_labels = choice_labels("device", devices)
    c.selectbox(t("train.device"), devices, key=_key("device"), format_func=device_labels.__getitem__)
    d.checkbox(t("train.gradient_checkpointing"), key=_key("gradient_checkpointing"))
    with st.expander(t("train.more_options")):
        columns = st.columns(4)
        for i, name in enumerate(MORE):
            _number(columns[i % 4], name, step=1)
        _speed_fields()
    _lora_fields()
    st.text_area(t("train.gallery_prompts"), key="train.gallery_prompts", height=80, help=t("train.gallery_prompts.help"))
    config = read()
    _scratch_line(workspace, config)
    form.save(config)
    form.reset_button(t("draft.reset"), widget_values(config), key="train.reset")
    return config


def _scratch_line(workspace, config: TrainConfig) -> None:
    """One line on what a from-scratch run will train and why (core.train.sizing), before it starts."""
    try:
        kind = models.resolve(config.model, workspace).kind
        chars = dataset.info(dataset.resolve(workspace, config.dataset)).chars if config.dataset else 0
    except UserError:
        return  # no such model or dataset: the problems below say so
    shape = plan(config, kind, chars)
    if shape is None:
        return
    why = t(f"train.size.{shape.reason}", budget=config.time_budget or "–", chars=f"{chars:,}")
    vocabulary = t("train.size.fitted") if fits_tokenizer(config) else t("train.size.own")
    st.info(t("train.size.line", layers=shape.layers, width=shape.width, context=shape.context, why=why,
              vocabulary=vocabulary))


def _speed_fields() -> None:
    """The speed options' choices and the free-text ones (an optimizer name, the main node's address)."""
    a, b, c, d = st.columns(4)
    for column, name in zip((a, b, c), SWITCHED):
        labels = choice_labels(name, meta(TrainConfig, name)["choices"])
        column.selectbox(t(f"train.{name}"), list(labels), key=_key(name), format_func=labels.__getitem__)
    optimizers = choice_labels("optim", meta(TrainConfig, "optim")["choices"])  # auto translated, the rest are names
    d.selectbox(t("train.optim"), list(optimizers), key=_key("optim"), format_func=optimizers.__getitem__,
                help=t("train.optim.help"))
    st.text_input(t("train.main_process_ip"), key=_key("main_process_ip"), help=t("train.main_process_ip.help"))


def _preference_source(column, workspace) -> None:
    """Preference tuning learns from pairs, not a dataset: 'from ratings' (the lab database's pairs, counted per
    source) or a pairs file written before."""
    options = preference_data.choices(workspace)
    if st.session_state[_key("pairs")] not in options:
        st.session_state[_key("pairs")] = preference_data.FROM_RATINGS
    counts = preference_data.ratings_counts()
    labels = {o: t("dpo.from_ratings", total=sum(counts.values()), **counts) if o == preference_data.FROM_RATINGS
              else o for o in options}
    column.selectbox(t("train.pairs"), options, key=_key("pairs"), format_func=labels.__getitem__,
                     help=t("dpo.pairs.help"))
    _number(column, "dpo_beta", step=0.05, format="%.3f", help=t("dpo.beta.help"))


def _lora_fields() -> None:
    a, b, c, d = st.columns(4)
    labels = {m: t(f"lora.method.{m}") for m in METHODS}  # translated now, not whenever the widget formats
    a.selectbox(t("train.method"), METHODS, key=_key("method"), format_func=labels.__getitem__,
                help=t("lora.method.help"))
    full = st.session_state[_key("method")] not in LORA_METHODS  # shown either way, so the form keeps its shape
    _number(b, "lora_r", step=4, disabled=full)
    _number(c, "lora_alpha", step=8, disabled=full)
    _number(d, "lora_dropout", step=0.05, disabled=full)
    st.text_input(t("train.lora_target_modules"), key=TARGETS, help=t("lora.targets.help"), disabled=full)


def read() -> TrainConfig:
    values = {f: st.session_state[_key(f)] for f in FIELDS}
    values["gallery_prompts"] = [p for p in st.session_state["train.gallery_prompts"].splitlines() if p.strip()]
    values["lora_target_modules"] = [m.strip() for m in st.session_state[TARGETS].split(",") if m.strip()]
    values["block_size"] = values["block_size"] or None
    values["dataset"], values["model"] = values["dataset"] or "", values["model"] or ""  # an empty selectbox says None
    return TrainConfig.from_dict(values)


def render_problems(config: TrainConfig, arch, dataset_documents: int | None, gpus: int | None = None,
                    workspace=None) -> bool:
    """Show what is wrong, in the user's language: the same check that `runs.start` makes, and the pages' rule for
    model names (`models.check_page_model`). True when it can start."""
    problems = check(config, model_context=arch.n_positions if arch else None, gpus=gpus)
    messages = [_problem_text(p) for p in problems]
    try:
        models.check_page_model(config.model, workspace)
    except UserError:
        messages.append(t("problem.model_not_allowed", model=md_escape(config.model)))
    if config.dataset and dataset_documents == 0:
        messages.append(t("problem.empty_dataset"))
    for message in messages:
        st.error(message)
    return not messages


def _problem_text(problem) -> str:
    """A check's problem in the user's language; the option it names shown by its label, as the form shows it."""
    values = {k: md_escape(v) for k, v in problem.values.items()}
    if "field" in values:
        values["field"] = t(f"train.{problem.values['field']}")
    return t(f"problem.{problem.code}", **values)


def render_memory(config: TrainConfig, hw: Hardware, arch) -> bool:
    """The estimate against what is free; True when it exceeds the device's whole memory (Start then asks)."""
    if arch is None or not config.block_size or config.batch_size < 1:
        st.caption(t("train.memory.unknown"))
        return False
    on_gpu = config.device != "cpu" and bool(hw.gpus)
    half = on_gpu and config.precision != "fp32"
    lora = dict(method=config.method, lora_r=config.lora_r, lora_targets=config.lora_target_modules)

    def total(batch: int, checkpointing: bool) -> int:
        return estimate(arch, block_size=config.block_size, batch_size=batch, half_precision=half,
                        gradient_checkpointing=checkpointing, on_gpu=on_gpu, **lora).total

    parts = estimate(arch, block_size=config.block_size, batch_size=config.batch_size, half_precision=half,
                     gradient_checkpointing=config.gradient_checkpointing, on_gpu=on_gpu, **lora)
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
