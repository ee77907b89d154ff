"""What the fine-tuning worker (core.train.worker) and the preference trainer (core.train.dpo) share: the Trainer's
arguments, the device and precision, LoRA, the phase and the library warnings' log, resuming from a checkpoint and a
stop. Its own module, so that the worker only dispatches to the DPO trainer and neither imports the other."""

from __future__ import annotations

import inspect
import json
import logging
import math
import shutil
import time
from pathlib import Path

from core.errors import UserError
from core.files import write_text_atomic
from core.hardware import choose_precision
from core.models import adapters
from core.models.checkpoints import checkpoint_problem, incomplete_checkpoints
from core.train.config import TrainConfig
from core.train.progress import node_main, say
from core.train.run_dir import RunDir, update_status
from core.train.sizing import weight_decay
from core.train.speed import Device, resolve
from core.train.state import Phase, RunState

UNBOUNDED = 10**9  # the step limit of a run that a time budget ends


def truncate_after(path: Path, step: int) -> None:
    """Resuming from an earlier checkpoint: drop the lines past it so the curve continues instead of doubling."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and step_of(line) <= step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


def step_of(line: str) -> float:
    try:
        step = json.loads(line).get("step", 0)
    except (ValueError, AttributeError, RecursionError):
        return math.inf  # a torn last line from a killed run, or a line that is not a record: drop it
    return step if isinstance(step, (int, float)) and not isinstance(step, bool) else math.inf


def device_and_precision(config: TrainConfig) -> tuple[bool, str]:
    """(use_cpu, precision). runs.launch has narrowed CUDA_VISIBLE_DEVICES to the chosen GPU(s)."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    use_cpu = config.device == "cpu" or not torch.cuda.is_available()
    if use_cpu and config.device.startswith("cuda"):
        raise UserError.coded("gpu_not_visible", device=config.device)
    return use_cpu, choose_precision(config.precision, use_cpu=use_cpu)


def arguments(run_dir: Path, config: TrainConfig, *, learning_rate: float, use_cpu: bool, precision: str,
               world: int, speed=None, scratch: bool = False, arguments_class=None, **extra):
    """The Trainer's arguments; `arguments_class` (a TrainingArguments subclass: TRL's DPOConfig) and `extra` (its
    own options) for the trainers of core.train.dpo."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import TrainingArguments

    speed = speed or resolve(config, Device.current(use_cpu))

    # transformers 5.2x renamed gradient_checkpointing to activation_checkpointing; accept both releases.
    accepted = inspect.signature(TrainingArguments.__init__).parameters
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in accepted else "gradient_checkpointing"
    # A time budget ends the run by the clock (core.train.budget): no step limit, evaluations when the clock says.
    budgeted = bool(config.time_budget)
    eval_steps = UNBOUNDED if budgeted else config.eval_steps
    return (arguments_class or TrainingArguments)(
        output_dir=str(run_dir),
        max_steps=UNBOUNDED if budgeted else config.max_steps if config.max_steps > 0 else -1,
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=learning_rate,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,  # transformers 5: below 1 it is a share of the steps (no warmup_ratio)
        weight_decay=weight_decay(config.weight_decay, scratch),
        adam_beta2=0.99 if scratch else 0.999,  # nanoGPT's for a tiny model's small batches: a shorter memory
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        logging_first_step=True,  # the curve starts at the untouched model's loss
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",  # checkpoint at each evaluation, so the best one can be kept
        save_steps=eval_steps,
        save_total_limit=config.save_total_limit,
        save_only_model=False,  # optimizer, scheduler and RNG states too: resume continues, not restarts
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        **{checkpointing: config.gradient_checkpointing},
        use_cpu=use_cpu,
        ddp_backend="gloo" if use_cpu and world > 1 else None,  # NCCL needs GPUs; gloo is torch's CPU backend
        ddp_find_unused_parameters=False if world > 1 else None,  # GPT-2 uses every parameter: skip the search
        **speed.training_arguments(),  # compile, optimizer, TF32, dataloader workers and pinned memory
        report_to="none",
        disable_tqdm=True,  # train.log should read as lines, not progress-bar redraws
        **extra,
    )


def with_lora(model, config: TrainConfig):
    """The model with LoRA adapters: checkpoints and final/ then hold the adapter and the tokenizer only."""
    model = adapters.wrap_for_training(model, config, config.model, gradient_checkpointing=config.gradient_checkpointing)
    trainable, total = model.get_nb_trainable_parameters()
    say(f"LoRA r={config.lora_r} alpha={config.lora_alpha} on {', '.join(sorted(model.peft_config['default'].target_modules))}: "
         f"{trainable:,} of {total:,} parameters train ({100 * trainable / total:.2f}%)")
    return model


def phase(run_dir: Path, phase: Phase, **counts) -> None:
    """What the worker is doing before the first metrics line, for the Train page (status.json's `phase`)."""
    if node_main():
        update_status(run_dir, phase=phase, phase_counts=counts)


def route_library_warnings(run_dir: Path) -> logging.Handler:
    """Library warnings (Python's `warnings`, the torch/transformers/datasets loggers) go to train.debug.log, so
    train.log reads as the run's own lines. Returns the handler, for transformers' own logging setup."""
    handler = logging.FileHandler(RunDir(run_dir).debug_log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logging.captureWarnings(True)
    for name in ("py.warnings", "torch", "datasets", "accelerate"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False  # not to the root logger's stderr, which is train.log
    return handler


def checkpoint(run_dir: Path, resume_from: str) -> Path:
    path = Path(resume_from) if Path(resume_from).is_absolute() else run_dir / resume_from
    problem = checkpoint_problem(path)
    if problem:
        raise UserError.coded("resume_incomplete", path=path, problem=problem)
    return path


def remove_incomplete_checkpoints(run_dir: Path) -> None:
    """Half-saved checkpoints (a kill during a save) are the lab's own debris: the Trainer would count them in
    save_total_limit's rotation (by modification time) and delete a complete checkpoint to keep one of them."""
    for path, why in incomplete_checkpoints(run_dir):
        say(f"removing the incomplete {path.name} ({why})")
        shutil.rmtree(path, ignore_errors=True)


def stopped(run_dir: Path, step: int) -> None:
    if node_main():
        update_status(run_dir, state=RunState.STOPPED, ended=time.time(), step=step,
                      last_checkpoint=RunDir(run_dir).checkpoint(step).name)
    say(f"stopped at step {step}: checkpoint-{step} saved")
