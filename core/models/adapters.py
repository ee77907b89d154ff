"""LoRA adapters through `peft`: which modules to adapt, wrapping a model for training, and loading a directory that
holds an adapter (adapter_config.json + adapter_model.safetensors + the tokenizer) as base + adapter.

An adapter's `base_model_name_or_path` holds the lab's own model name (`starter`, `gpt2`, a run's checkpoint), so it
resolves through `core.models.resolve` in the workspace that loads it, wherever that workspace lives.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_ATTENTION = ("attn", "attention")  # parent-module names of attention blocks across GPT-2, Llama, Qwen, Mistral...


def is_adapter_dir(path: Path) -> bool:
    weights = Path(path) / ADAPTER_WEIGHTS
    return (Path(path) / ADAPTER_CONFIG).is_file() and weights.is_file() and weights.stat().st_size > 0


def base_name(path: Path) -> str:
    """The model the adapter in `path` was trained on, as the lab names it."""
    try:
        base = json.loads((Path(path) / ADAPTER_CONFIG).read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError.coded("adapter_config_unreadable", path=path, file=ADAPTER_CONFIG) from exc
    if not isinstance(base, str) or not base:
        raise UserError.coded("adapter_no_base", path=path, file=ADAPTER_CONFIG)
    return base


def target_modules(model) -> list[str]:
    """The leaf names of the linear layers inside attention blocks (GPT-2: c_attn, c_proj; Llama/Qwen: q_proj,
    k_proj, v_proj, o_proj), found from the model's own modules; every linear layer but the output head otherwise."""
    # lazy: torch, transformers take ~2 s to import, and only this path needs them
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    linear = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, Conv1D))]
    attention = {name.rsplit(".", 1)[-1] for name, _ in linear
                 if any(word in part.lower() for part in name.split(".")[:-1] for word in _ATTENTION)}
    if attention:
        return sorted(attention)
    names = {name.rsplit(".", 1)[-1] for name, _ in linear} - {"lm_head"}
    if not names:
        raise UserError.coded("lora_no_linear")
    return sorted(names)


def wrap_for_training(model, config, base: str, *, gradient_checkpointing: bool = False):
    """`model` with LoRA adapters (peft), only they trainable; `base` (the lab's name) is saved with them."""
    # lazy: peft takes ~20 ms to import, and only this path needs it
    from peft import LoraConfig, get_peft_model

    targets = list(config.lora_target_modules) or target_modules(model)
    lora = LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=targets, base_model_name_or_path=base)
    if gradient_checkpointing:
        model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks need an input that wants grad
    try:
        wrapped = get_peft_model(model, lora)
    except ValueError as exc:  # target modules not found in the model: peft says which
        raise UserError.coded("lora_cannot_adapt", reason=(str(exc).splitlines() or [""])[0]) from exc
    wrapped.peft_config["default"].base_model_name_or_path = base  # peft overwrites it with the loaded path
    return wrapped


def load_with_adapter(path: Path, workspace, *, for_training: bool = False, merge: bool = True,
                      confined: bool = False, seen: tuple[Path, ...] = ()):
    """(tokenizer, model) of an adapter directory: its base through the lab's resolver, the adapter on top, merged
    into the weights by default (inference then costs what the base costs; the output is peft's own merge).
    `confined`: the base obeys a page's rule for model names; `seen`: the adapters on the way here (a cycle)."""
    # lazy: transformers, peft take ~670 ms to import; core.models imports this module, so not at the top
    from peft import PeftModel
    from transformers import AutoTokenizer

    from core import models

    base, seen = _base_of(path, workspace, confined, seen)
    _, model = models.load(base, workspace, for_training=for_training, confined=confined, _adapters=seen)
    try:
        model = PeftModel.from_pretrained(model, str(path), is_trainable=False)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, RuntimeError) as exc:
        raise UserError.coded("adapter_load_failed", path=path, base=base, reason=(str(exc).splitlines() or [""])[0]) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if merge:
        model = model.merge_and_unload()
    if not for_training:
        model.eval()
    return tokenizer, model


def config_source(source, workspace, *, confined: bool = False, seen: tuple[Path, ...] = ()):
    """The ModelSource whose config.json describes `source`: its base's for an adapter directory."""
    # here, not at the top: core.models imports this module (core.models.loading), a cycle
    from core import models

    if not source.is_hub and is_adapter_dir(Path(source.location)):
        base, seen = _base_of(Path(source.location), workspace, confined, seen)
        return config_source(models.resolve(base, workspace, confined=confined), workspace, confined=confined,
                             seen=seen)
    return source


def module_names(name: str, workspace) -> frozenset[str] | None:
    """Every name LoRA's target_modules could match in this model (peft matches a module by its full name or any
    dotted tail of it), from the model built on the meta device: no weights are read. None when its config cannot
    be read here."""
    # lazy: torch, transformers take ~2 s to import; core.models imports this module, so not at the top
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from core import models

    try:
        source = config_source(models.resolve(name, workspace), workspace)
        config = AutoConfig.from_pretrained(source.location, local_files_only=True)
    except (UserError, OSError, ValueError):
        return None
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    parts = (full.split(".") for full, _ in model.named_modules() if full)
    return frozenset(".".join(p[i:]) for p in parts for i in range(len(p)))


def _base_of(path: Path, workspace, confined: bool, seen: tuple[Path, ...]) -> tuple[str, tuple[Path, ...]]:
    """(the adapter's base name, the adapters seen with this one); a UserError when the base leads back to an
    adapter already on the way (a base naming itself, lora4 <-> lora5), which would otherwise recurse forever."""
    # here, not at the top: core.models imports this module (core.models.loading), a cycle
    from core import models

    seen = (*seen, Path(path).resolve())
    base = base_name(path)
    location = Path(models.resolve(base, workspace, confined=confined).location).resolve()
    if location in seen:
        raise UserError.coded("adapter_base_loop", path=path, base=base, file=ADAPTER_CONFIG)
    return base, seen
