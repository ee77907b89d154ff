"""A training run's configuration: one dataclass, one comment per field, a JSON round trip, presets, and
validation with messages a person understands."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from core import dataclass_json
from core.dataclass_cli import kind
from core.errors import UserError
from core.hardware import PRECISIONS
from core.train.budget import parse_duration

SCHEDULERS = ["linear", "cosine", "constant", "constant_with_warmup"]
METHODS = ["full", "lora", "dpo", "dpo_lora"]
PREFERENCE_METHODS = ("dpo", "dpo_lora")  # tuned on preference pairs (core.train.dpo), not on a dataset's text
LORA_METHODS = ("lora", "dpo_lora")
PREFERENCE = ("method", PREFERENCE_METHODS)  # the DPO options matter only to a preference-tuning run
LORA = ("method", LORA_METHODS)  # the LoRA options matter only to a LoRA run (fine-tuning or preference tuning)
TOKENIZERS = ["auto", "fitted", "model"]
SHAPE = re.compile(r"(\d+)\s*x\s*(\d+)")  # LAYERSxWIDTH, as the scratch_size option writes it (core.train.sizing)
SWITCHES = ["auto", "on", "off"]  # compile and tf32
ATTENTION = ["auto", "sdpa", "eager"]
# transformers' optimizers that need no further package. A list here rather than transformers' OptimizerNames:
# importing training_args costs the launcher seconds (torch, accelerate) before any check; a test holds each name
# to transformers' own.
# "muon" is the lab's own (core.train.muon): Muon on the transformer blocks' matrices, AdamW on the rest.
OPTIMIZERS = ["auto", "muon", "adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop"]
DEFAULT_PROMPTS = ["The lighthouse keeper", "青石镇的早晨"]
DEVICE = re.compile(r"auto|cpu|all|cuda:\d+")  # what `device` may say (see the field's comment)


SEED_MAX = 2**32 - 1  # numpy's seeds (transformers' set_seed seeds numpy too) are 32-bit


def _option(default, help: str, **limits):
    """A config field with its help text and limits: min/max (inclusive), above/below (exclusive), choices;
    sweep=True lets a sweep vary it (`python -m core sweep --FLAG a,b,c`);
    when=(field, value) checks them only then (the LoRA options when method is lora); cli=False keeps it off the
    command line. check() enforces them, the form's widgets and the flags show them."""
    return field(default=default, metadata={"help": help, **limits})


@dataclass
class TrainConfig:
    # One declaration per option: `python -m core train` makes its flags from this (core/dataclass_cli.py), the
    # Train form its limits, and check() the messages; `cli: False` keeps an option off the command line.
    dataset: str = _option("", "a dataset name in the workspace, or a dataset directory")
    model: str = _option("starter", "hub id, 'starter', a run or checkpoint, or a local directory")
    block_size: int | None = _option(None, "tokens per training block (default: the smaller of the model's context "
                                     "and 512)", min=8, max=65536, sweep=True)
    epochs: float = _option(3.0, "passes over the training blocks (ignored when max steps > 0)", min=0.0,
                           max=1e6, sweep=True)
    max_steps: int = _option(0, "optimizer steps to run; 0 = decided by epochs", min=0, max=10**9, sweep=True)
    time_budget: str = _option("", "train for a time instead (90s, 10m, 1h): the learning-rate schedule, evaluations "
                               "and checkpoints fit into it; empty = steps or epochs decide", duration=True)
    random_init: bool = _option(False, "train the model's architecture from random weights (the starter is untrained "
                                "already): it is then sized and tokenized as below")
    scratch_size: str = _option("auto", "a from-scratch model's LAYERSxWIDTH (e.g. 4x128), or auto: sized for the "
                                "corpus and the time budget", shape=True)
    tokenizer: str = _option("auto", "auto: a tokenizer fitted to the dataset for a from-scratch model with a time "
                             "budget; fitted: always for one from scratch; model: the model's own", choices=TOKENIZERS)
    learning_rate: float | None = _option(None, "peak rate (default: 1e-3 for the untrained starter, 2e-3 for a "
                                          "small model sized for a budget, 5e-5 otherwise)", above=0.0, below=1.0,
                                          sweep=True)
    batch_size: int = _option(8, "blocks per device per step", min=1, max=4096, sweep=True)
    grad_accum: int = _option(1, "micro-batches accumulated per optimizer step (effective batch = batch x accum x "
                              "devices)", min=1, max=65536, sweep=True)
    warmup_ratio: float = _option(0.05, "share of the steps spent warming the learning rate up", min=0.0,
                                 below=1.0, sweep=True)
    weight_decay: float | None = _option(None, "weight decay, decoupled (AdamW's and Muon's); default: 0.1 for a "
                                         "model trained from scratch, else 0 (core.train.sizing)", min=0.0, max=1.0,
                                         sweep=True)
    dropout: float | None = _option(None, "dropout of a model trained from scratch (default: by the passes over the "
                                    "corpus the run will make, once its speed is known; core.train.sizing)", min=0.0,
                                    below=1.0, sweep=True)
    # linear to zero: from scratch on a budget it beat cosine (to zero too) by ~1% held-out (BENCHMARKS.md, "Quality per
    # minute"), as Bergsma et al. 2025 ("Straight to Zero") found for LLM training; transformers' own default
    scheduler: str = _option("linear", "learning-rate schedule", choices=SCHEDULERS)
    eval_steps: int = _option(50, "evaluate (and checkpoint, and sample the gallery) every N steps", min=1,
                         max=10**9)
    logging_steps: int = _option(5, "write a metrics line every N steps", min=1, max=10**9)
    early_stopping_patience: int = _option(0, "stop after N evaluations without improvement; 0 = never", min=0)
    save_total_limit: int = _option(3, "checkpoints kept on disk (the best one is always kept)", min=1,
                               max=10**6)
    seed: int = _option(42, "data order and initialisation of anything new", min=0, max=SEED_MAX)
    precision: str = _option("auto", "auto: bf16 where the GPU has it, fp16 on older CUDA GPUs, fp32 on CPU",
                             choices=PRECISIONS)
    gradient_checkpointing: bool = _option(False, "recompute activations in the backward pass: less memory, "
                                           "~30% slower")
    device: str = _option("auto", "auto (first GPU, else CPU), cpu, cuda:N, or all (every GPU, DDP via accelerate)")
    num_processes: int = _option(0, "with device all: processes to launch; 0 = one per GPU (on CPU: for testing "
                                 "DDP)", min=0, max=1024)
    gallery_prompts: list[str] = field(default_factory=lambda: list(DEFAULT_PROMPTS),
                                       metadata={"help": "prompts sampled at each evaluation"})
    gallery_max_new_tokens: int = _option(40, "tokens generated per gallery prompt", min=1, max=4096)
    gallery_seed: int = _option(1234, "fixed, so the gallery changes only because the model does", min=0,
                               max=SEED_MAX)
    resume_from: str = _option("", "a checkpoint directory to continue from (same run: the step count goes on)",
                               cli=False)  # `python -m core resume` does this
    sweep: str = _option("", "the sweep this run is a trial of (core.train.sweep); empty = an ordinary run", cli=False)
    trial: int = _option(-1, "its trial number in the sweep's Optuna study; -1 = not a trial", cli=False)
    method: str = _option("full", "full: every weight trains; lora: small adapters train beside frozen weights (peft); "
                          "dpo / dpo_lora: the same, preference-tuned on --pairs (TRL's DPO)", choices=METHODS)
    pairs: str = _option("", "with dpo: a preference pairs JSONL file (`python -m core ratings pairs`), or 'ratings' "
                         "for the lab database's pairs now", when=PREFERENCE)
    dpo_beta: float = _option(0.1, "with dpo: how close the tuned model stays to its parent (higher = closer)",
                              min=0.001, max=10.0, when=PREFERENCE)
    lora_r: int = _option(8, "LoRA rank: the inner size of each adapter's low-rank update", min=1,
                     max=4096, when=LORA)
    lora_alpha: int = _option(16, "LoRA scale: the adapters' update is multiplied by alpha / r", min=1, when=LORA)
    lora_dropout: float = _option(0.05, "dropout on the adapters' input while training", min=0.0,
                                  below=1.0, when=LORA)
    lora_target_modules: list[str] = field(default_factory=list, metadata={
        "help": "modules to adapt; empty = the model's attention projections"})
    compile: str = _option("auto", "torch.compile the model: auto (on CUDA), on, off", choices=SWITCHES)
    optim: str = _option("auto", "optimizer: auto (muon for a model trained from scratch, else adamw_torch_fused), "
                         "muon (Muon on the blocks' matrices, AdamW on the rest) or a transformers optimizer that "
                         "needs no other package", choices=OPTIMIZERS)
    tf32: str = _option("auto", "TF32 matmuls: auto (on CUDA GPUs that have them, Ampere and later), on, off",
                        choices=SWITCHES)
    attn_implementation: str = _option("auto", "attention: auto (sdpa on CUDA, the model's default on CPU), sdpa, "
                                       "eager", choices=ATTENTION)
    dataloader_workers: int = _option(-1, "processes feeding batches (pinned memory on CUDA); -1 = auto (CUDA: up to "
                                      "4; CPU: 0)", min=-1, max=64)
    nodes: int = _option(1, "machines in one run (accelerate's --num_machines); each starts `train` with its node "
                         "rank", min=1, max=4096)
    node_rank: int = _option(0, "this machine's rank among the nodes, 0 to nodes-1 (0 = the main one: it logs the "
                             "metrics)", min=0, max=4095)
    main_process_ip: str = _option("", "with nodes > 1: the address of the node of rank 0, reachable from every node")
    main_process_port: int = _option(29500, "with nodes > 1: a free TCP port on the node of rank 0", min=1, max=65535)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: dict, *, where: str = "the training configuration") -> TrainConfig:
        """From a JSON object: unknown options and values of the wrong type are a UserError naming the field."""
        return dataclass_json.from_dict(cls, data, where=where)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        where = f"the config file {path}"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError.coded("cannot_read", path=where, reason=getattr(exc, 'strerror', None) or exc) from exc
        return cls.from_dict(dataclass_json.parse(text, where=where), where=where)

    def effective_batch(self, devices: int = 1) -> int:
        return self.batch_size * self.grad_accum * max(1, devices)

    def halved_for_oom(self) -> TrainConfig:
        """Half the batch, twice the accumulation: the same effective batch in less memory."""
        if self.batch_size <= 1:
            raise UserError.coded("batch_size_one")
        return replace(self, batch_size=self.batch_size // 2, grad_accum=self.grad_accum * 2, resume_from="")


def swept_options() -> dict[str, type]:
    """The options a sweep may vary (declared with sweep=True), each with its value type."""
    return {f.name: kind(TrainConfig, f.name) for f in fields(TrainConfig) if f.metadata.get("sweep")}


def default_learning_rate(model_kind: str, from_scratch: bool = False) -> float:
    """An untrained model (the starter) learns from scratch and wants a far higher rate than a pretrained one."""
    return 1e-3 if model_kind == "starter" or from_scratch else 5e-5


def from_scratch(config: TrainConfig, model_kind: str) -> bool:
    """Whether the run trains a new model sized for it (core.train.sizing) rather than the model's own weights: an
    untrained model (the starter, or --random-init) with a time budget, or with a size or tokenizer asked for."""
    if config.method != "full" or not (model_kind == "starter" or config.random_init):
        return False
    return bool(config.time_budget) or config.scratch_size != "auto" or config.tokenizer == "fitted"


def fits_tokenizer(config: TrainConfig) -> bool:
    return config.tokenizer in ("auto", "fitted")


PRESETS: dict[str, dict] = {
    # name -> the options it sets; the dataset stays the user's choice
    # learning_rate None: the starter's own 1e-3 on a run of steps, the sized model's rate once a budget is typed
    "quick_cpu": dict(model="starter", block_size=128, max_steps=200, batch_size=8, grad_accum=1, learning_rate=None,
                      eval_steps=25, logging_steps=5, precision="fp32", device="cpu", gradient_checkpointing=False),
    "gpt2_one_gpu": dict(model="gpt2", block_size=512, max_steps=0, epochs=3.0, batch_size=8, grad_accum=4,
                         learning_rate=5e-5, eval_steps=200, logging_steps=10, precision="auto", device="cuda:0",
                         gradient_checkpointing=False),
    "gpt2_medium_24gb": dict(model="gpt2-medium", block_size=512, max_steps=0, epochs=3.0, batch_size=4, grad_accum=8,
                             learning_rate=3e-5, eval_steps=200, logging_steps=10, precision="auto", device="cuda:0",
                             gradient_checkpointing=True),
}


def apply_preset(config: TrainConfig, preset: str) -> TrainConfig:
    if preset not in PRESETS:
        raise UserError.coded("preset_missing", preset=preset, presets=", ".join(PRESETS))
    return replace(config, **PRESETS[preset])


@dataclass(frozen=True)
class Problem:
    code: str  # machine-readable; the UI translates `problem.<code>`
    message: str  # the same in English, with what to do
    values: dict = field(default_factory=dict)


# The limits a field declares (see `_option`), each as (code, the value breaks it, the English message). The UI
# translates `problem.<code>` with the same values; {field} is the option's name (the form shows its label).
_LIMITS = {
    "min": ("too_small", lambda value, bound: value < bound, "{field} must be {bound} or more (got {value})"),
    "max": ("too_large", lambda value, bound: value > bound, "{field} must be {bound} or less (got {value})"),
    "above": ("not_above", lambda value, bound: value <= bound, "{field} must be above {bound} (got {value})"),
    "below": ("not_below", lambda value, bound: value >= bound, "{field} must be below {bound} (got {value})"),
    "choices": ("unknown_choice", lambda value, bound: value not in bound,
                "{field} cannot be '{value}': use one of {bound}"),
}


def _limit_problems(config: TrainConfig) -> list[Problem]:
    """What breaks the limits the fields declare: the one place those limits are checked."""
    problems = []
    for f in fields(config):
        value = getattr(config, f.name)
        when = f.metadata.get("when")
        if value is None or isinstance(value, (bool, list)) or (when and getattr(config, when[0]) not in when[1]):
            continue
        for limit, (code, broken, message) in _LIMITS.items():
            bound = f.metadata.get(limit)
            if bound is not None and broken(value, bound):
                shown = ", ".join(bound) if limit == "choices" else bound
                problems.append(Problem(code, message.format(field=f.name, bound=shown, value=value),
                                        {"field": f.name, "bound": shown, "value": value}))
                break  # one message per field
    return problems


def check(config: TrainConfig, *, model_context: int | None = None, train_blocks: int | None = None,
          gpus: int | None = None, modules: frozenset[str] | None = None) -> list[Problem]:
    """Everything wrong with a configuration, each with what to do. Empty when it can run.
    The fields' declared limits are checked from their metadata; only rules across fields are written here.
    The context, when known, adds the checks that need it: the model's context and module names, the blocks, the
    visible GPUs."""
    problems = []

    def problem(code, message, **values):
        problems.append(Problem(code, message, values))

    # NaN passes every comparison below (nan <= 0 is False) and infinity passes some: refuse them first
    not_finite = {f.name: f.default for f in fields(config) if isinstance(getattr(config, f.name), float)
                  and not math.isfinite(getattr(config, f.name))}
    for name in not_finite:
        problem("not_finite", f"{name} must be a finite number (got {getattr(config, name)})", field=name,
                value=getattr(config, name))
    config = replace(config, **not_finite)  # the defaults stand in below: one message per field
    problems += _limit_problems(config)

    if config.method in PREFERENCE_METHODS and not config.pairs:
        problem("no_pairs", "preference tuning needs pairs: give --pairs FILE (`python -m core ratings pairs`) or "
                "--pairs ratings, or choose 'from ratings' on the Train page")
    if config.optim == "muon" and config.method in PREFERENCE_METHODS:
        problem("muon_preference", "Muon trains models on a dataset's text, not preference tuning: choose the "
                "optimizer auto or adamw_torch_fused", field="optim")
    if not config.dataset and config.method not in PREFERENCE_METHODS:
        problem("no_dataset", "choose a dataset: make one on the Data page or with `python -m core clean`")
    if not config.model:
        problem("no_model", "choose a model: 'starter', a hub id such as gpt2, or a checkpoint")
    if model_context and config.block_size and config.block_size > model_context:
        problem("block_size_context", f"the block size {config.block_size} is longer than the model's context of "
                f"{model_context} tokens: use {model_context} or less", value=config.block_size, context=model_context)
    problems += _budget_problems(config)
    if config.max_steps == 0 and config.epochs <= 0 and not config.time_budget:
        problem("length", "train for at least one step: set max steps above 0, or epochs above 0")
    unknown = sorted(set(config.lora_target_modules) - modules) if modules is not None else []
    if config.method in LORA_METHODS and unknown:
        problem("lora_target", f"the model has no module named {', '.join(unknown)}: name modules such as "
                f"{', '.join(sorted(modules)[:4])}", value=", ".join(unknown))
    problems += _device_problems(config, gpus) + _node_problems(config)
    if train_blocks is not None and train_blocks == 0:
        problem("empty_dataset", "the dataset has no text to train on at this block size: "
                "use a smaller block size or a larger dataset")
    return problems


def _budget_problems(config: TrainConfig) -> list[Problem]:
    if config.scratch_size != "auto" and not SHAPE.fullmatch(config.scratch_size.strip()):
        return [Problem("scratch_size", f"cannot read the model size '{config.scratch_size}': write LAYERSxWIDTH such "
                        "as 4x128, or auto", {"value": config.scratch_size})]

    try:
        seconds = parse_duration(config.time_budget)
    except ValueError:
        seconds = 0.0
    if seconds is not None and seconds <= 0:
        return [Problem("time_budget", f"cannot read the time budget '{config.time_budget}': write it as 90s, 10m or "
                        "1h30m (or leave it empty to train by steps)", {"value": config.time_budget})]
    return []


def _device_problems(config: TrainConfig, gpus: int | None) -> list[Problem]:
    problems = []
    known = DEVICE.fullmatch(config.device)
    if not known:
        problems.append(Problem("device", f"unknown device '{config.device}': use auto, cpu, cuda:N (cuda:0 is the "
                                "first GPU) or all", {"value": config.device}))
    if gpus is None or not known:
        return problems  # what this machine has is not known here
    if config.device.startswith("cuda:") and int(config.device[5:]) >= gpus:
        problems.append(Problem("device_missing", f"there is no GPU {config.device} here ({gpus} CUDA GPU(s) visible): "
                                "pick cpu or auto, or check the driver", {"value": config.device, "gpus": gpus}))
    elif config.precision == "fp16" and (config.device == "cpu" or not gpus):
        problems.append(Problem("fp16_cpu", "fp16 needs a CUDA GPU: use fp32 on the CPU (bf16 only "
                                "on a CPU with bf16 instructions: on others a step is many times slower)"))
    return problems


def require_valid(config: TrainConfig, **context) -> None:
    problems = check(config, **context)
    if problems:
        raise UserError("; ".join(p.message for p in problems))


def _node_problems(config: TrainConfig) -> list[Problem]:
    if config.node_rank >= config.nodes:
        return [Problem("nodes", f"node rank {config.node_rank} of {config.nodes} node(s): use --nodes 1 or more and "
                        "a --node-rank from 0 to nodes-1", {"nodes": config.nodes, "node_rank": config.node_rank})]
    if config.nodes > 1 and not config.main_process_ip:
        return [Problem("main_process_ip", "several nodes need --main-process-ip: the address of the node of rank 0")]
    return []
