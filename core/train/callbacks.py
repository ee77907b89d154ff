"""The trainer's callbacks: metrics, status, gallery, Stop and the fault hook (see core.train.worker).

The worker imports this module only once it trains: it imports torch and transformers, and the worker installs its
Stop handler before those seconds of importing.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from core.files import append_jsonl
from core.playground import sampling
from core.train import gallery, sizing
from core.train.config import TrainConfig
from core.train.muon import EMBEDDINGS
from core.train.progress import MAX_PERPLEXITY_LOSS, rank, say
from core.train.run_dir import RunDir, update_status
from core.train.state import RunState


class MetricsCallback(TrainerCallback):
    """One metrics.jsonl line per log step and per evaluation (rank 0)."""

    def __init__(self, path: Path, tokens_per_step: int | None, held_out=None, extra: dict[str, str] | None = None):
        self.path, self.tokens_per_step = path, tokens_per_step
        self.held_out = held_out  # core.evaluation.bits.HeldOut of the validation blocks: bits per character
        # extra: a trainer's own log keys -> the metrics.jsonl keys they are written as (DPO's reward margin)
        self.extra = extra or {}
        self.busy_s, self.steps, self.began = 0.0, 0, None

    # Throughput counts time inside optimizer steps only, so evaluations, checkpoints and the gallery
    # between two log lines do not make training look slower than it is.
    def on_step_begin(self, args, state, control, **kwargs):
        self.began = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.began is not None:
            self.busy_s += time.perf_counter() - self.began
            self.steps += 1

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return  # the end-of-training summary has no "loss"; evaluations are written by on_evaluate
        tokens_per_s = self.steps * self.tokens_per_step / self.busy_s if self.busy_s and self.tokens_per_step else None
        self.busy_s, self.steps = 0.0, 0
        line = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), "loss": logs["loss"],
                "learning_rate": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                "tokens_per_s": round(tokens_per_s, 1) if tokens_per_s else None, "time": time.time(),
                **{key: logs[name] for name, key in self.extra.items() if name in logs}}
        if torch.cuda.is_available():
            line["gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
        append_jsonl(self.path, line)
        say(f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
             f"lr {line['learning_rate'] or 0:.2e}  " + (self._extra_text(line) or f"{line['tokens_per_s'] or 0:,.0f} tokens/s"))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics or "eval_loss" not in metrics:
            return
        loss = metrics["eval_loss"]
        perplexity = math.exp(loss) if loss < MAX_PERPLEXITY_LOSS else None
        line = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), "eval_loss": loss,
                "perplexity": perplexity if not self.extra else None, "time": time.time(),  # no perplexity of a DPO loss
                **{f"eval_{key}": metrics[f"eval_{name}"] for name, key in self.extra.items() if f"eval_{name}" in metrics}}
        if self.held_out is not None and not self.extra:
            per = self.held_out.scores(loss)
            line.update(bits_per_char=per["bits_per_char"], bits_per_byte=per["bits_per_byte"])
        if torch.cuda.is_available():
            line["gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
        append_jsonl(self.path, line)
        per_char = f", {line['bits_per_char']:.3f} bits per character" if line.get("bits_per_char") is not None else ""
        say(f"step {state.global_step}: validation loss {loss:.4f}, "
            + (self._extra_text(line, "eval_") or f"perplexity {perplexity or float('inf'):.2f}" + per_char))

    def _extra_text(self, line: dict, prefix: str = "") -> str:
        return "  ".join(f"{key.replace('_', ' ')} {line[prefix + key]:.3f}" for key in self.extra.values()
                         if line.get(prefix + key) is not None)


class StatusCallback(TrainerCallback):
    """Keeps status.json current: the step, the total, the best evaluation and its checkpoint (rank 0)."""

    def __init__(self, run_dir: Path, stop: threading.Event, held_out=None):
        self.run_dir, self.stop, self.held_out = run_dir, stop, held_out

    def _update(self, state, **changes):
        if state.is_world_process_zero:
            update_status(self.run_dir, state=RunState.STOPPING if self.stop.is_set() else RunState.RUNNING,
                          step=state.global_step, max_steps=state.max_steps, **changes)

    def on_train_begin(self, args, state, control, **kwargs):
        self._update(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        self._update(state, epoch=state.epoch)

    def on_save(self, args, state, control, **kwargs):
        # best_metric and best_model_checkpoint are settled by now (not yet in on_evaluate)
        best = state.best_model_checkpoint
        per_char = self.held_out.bits_per_char(state.best_metric) if self.held_out is not None else None
        self._update(state, best_eval_loss=state.best_metric, best_checkpoint=Path(best).name if best else None,
                     last_checkpoint=RunDir(self.run_dir).checkpoint(state.global_step).name,
                     best_bits_per_char=per_char)


class GalleryCallback(TrainerCallback):
    """Samples the gallery prompts with a fixed seed at every evaluation (rank 0), into the run's samples.jsonl as
    sample records (core.train.gallery)."""

    def __init__(self, run_dir: Path, tokenizer, config: TrainConfig):
        self.run, self.tokenizer, self.config = RunDir(run_dir), tokenizer, config

    def sample(self, model, step: int) -> None:
        prompts = [p for p in self.config.gallery_prompts if p.strip()]
        if not prompts or rank() != 0:
            return
        was_training = model.training
        model.eval()
        # The Playground's decoding path (one for the lab): whole UTF-8 characters only, and each row draws from
        # its own generator seeded by the setting, so training's global RNG is untouched.
        setting = gallery.decoding(self.config)
        for prompt in prompts:
            [sample] = sampling.generate(model, self.tokenizer, prompt, [setting])
            self.run.append_sample(gallery.record(self.run, self.config, step, prompt, sample.text).to_dict())
        model.train(was_training)
        say(f"step {step}: gallery sampled ({len(prompts)} prompts)")

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None:
            self.sample(model, state.global_step)


class StopCallback(TrainerCallback):
    """On a Stop signal: save a checkpoint at this step's end and end training."""

    stopped = False

    def __init__(self, stop: threading.Event):
        self.stop = stop

    def on_step_end(self, args, state, control, **kwargs):
        requested = self.stop.is_set()
        if dist.is_available() and dist.is_initialized():
            # Every rank must stop at the same step, or one waits forever in the next all-reduce.
            flag = torch.tensor([int(requested)], device=args.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            requested = bool(flag.item())
        if requested:
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
            say(f"step {state.global_step}: stop requested, saving a checkpoint")
        return control


class FaultCallback(TrainerCallback):
    """Test hook (QUILL_FAULT=oom@STEP | error@STEP): fail on purpose at a step, as a GPU would."""

    def __init__(self, spec: str):
        kind, _, step = spec.partition("@")
        self.kind, self.step = kind.strip(), int(step or 1)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            if self.kind == "oom":
                raise torch.cuda.OutOfMemoryError(
                    f"CUDA out of memory. Tried to allocate 2.00 GiB (injected by QUILL_FAULT at step {self.step})")
            raise RuntimeError(f"injected failure at step {self.step} (QUILL_FAULT)")


class PassesCallback(TrainerCallback):
    """Fits a from-scratch run to the passes over its corpus it will make, once: a run of steps knows them at its
    first step, a budget once its steps are timed (BudgetCallback projects max_steps from the share of the time
    spent). A budget that would make more than `max_passes` (sizing.max_passes: a small corpus) ends after them (its
    clock is shortened, so the learning rate still decays to its end); unless the run gives one, the model's dropout
    is sizing.dropout_for the passes. The model's config records the rate, so checkpoints, a resume and the final
    model keep it. Under Muon the embeddings' rate is sizing.embedding_rate_for the passes (kept in the schedule's
    state, so in checkpoints too)."""

    PROJECTED = 0.03  # share of a budget after which its projected steps are steady enough to count passes by

    def __init__(self, run_dir: Path, train_tokens: int, tokens_per_step: int, clock=None, *,
                 max_passes: float | None = None, dropout: bool = True):
        self.run_dir, self.train_tokens, self.tokens_per_step = run_dir, train_tokens, tokens_per_step
        self.clock, self.max_passes, self.dropout, self.decided = clock, max_passes, dropout, False

    def on_step_end(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        if self.decided or model is None or (self.clock is not None and self.clock.progress() < self.PROJECTED):
            return
        self.decided = True
        projected = state.max_steps * self.tokens_per_step / max(1, self.train_tokens)
        passes, facts = projected, {"epochs_projected": round(projected, 1)}
        if self.clock is not None and self.max_passes and projected > self.max_passes:
            self.clock.shorten(self.clock.budget_s * self.max_passes / projected)
            passes, facts["time_budget_s"] = self.max_passes, round(self.clock.budget_s, 1)
            say(f"the budget would go over the training blocks {projected:.0f} times; the run ends after "
                f"{self.max_passes:g} passes, in about {self.clock.budget_s:.0f} s: more would learn them by heart")
        if self.dropout:
            rate = sizing.dropout_for(passes)
            for name, module in model.named_modules():
                if isinstance(module, torch.nn.Dropout) and not name.endswith("attn_dropout"):  # see _scratch_model
                    module.p = rate
            model.config.resid_pdrop = model.config.embd_pdrop = rate
            facts["dropout"] = rate
            say(f"dropout {rate:g}: about {passes:.0f} passes over the training blocks in this run")
        rate = _scale_embedding_rate(optimizer, lr_scheduler, sizing.embedding_rate_for(passes))
        if rate is not None:
            facts["embedding_rate"] = rate
            if rate != 1:
                say(f"the embeddings learn at {rate:g}x the run's rate: {passes:.0f} passes")
        if state.is_world_process_zero:
            update_status(self.run_dir, epochs_planned=round(passes, 1), **facts)


def _scale_embedding_rate(optimizer, scheduler, rate: float) -> float | None:
    """Multiply the rate of the optimizer's embeddings group (muon.EMBEDDINGS: a from-scratch run under Muon) by
    `rate`, in the schedule's base rates too, so the schedule carries it and a checkpoint's scheduler state keeps it
    on a resume. None: the optimizer has no such group."""
    groups = getattr(optimizer, "param_groups", [])
    index = next((i for i, group in enumerate(groups) if group.get("name") == EMBEDDINGS), None)
    if index is None:
        return None
    groups[index]["lr"] *= rate
    scheduler = getattr(scheduler, "scheduler", scheduler)  # accelerate's wrapper holds the schedule
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs[index] *= rate
    return rate


class BudgetCallback(TrainerCallback):
    """A time budget (core.train.budget.Clock): evaluate and checkpoint at its intervals, stop when it is spent, and
    leave in each checkpoint the training time spent up to it (budget.json), so a resumed run keeps its schedule."""

    def __init__(self, clock):
        self.clock, self.eval_began = clock, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.clock.start()

    def on_step_end(self, args, state, control, **kwargs):
        progress = self.clock.progress()
        if progress > 0.02:  # the projected total, for the status and the ETA: steps so far over the share spent
            state.max_steps = max(state.global_step, round(state.global_step / progress))
        over, due = self.clock.over(), self.clock.eval_due()
        if dist.is_available() and dist.is_initialized():
            # every rank must stop and evaluate at the same step, or one waits forever in the next collective
            flags = torch.tensor([int(over), int(due)], device=args.device)
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            over, due = bool(flags[0].item()), bool(flags[1].item())
        if over:
            state.max_steps = state.global_step
            control.should_training_stop = True
            control.should_evaluate = control.should_save = True  # the final evaluation and a loadable model
        elif due:
            control.should_evaluate = control.should_save = True
        if control.should_evaluate:
            self.eval_began = time.monotonic()
        return control

    def on_save(self, args, state, control, **kwargs):
        if self.eval_began is not None:  # what an evaluation, the gallery and a save take: kept for the end
            self.clock.reserve_s = 1.5 * (time.monotonic() - self.eval_began)
            self.eval_began = None
        if state.is_world_process_zero:
            checkpoint = RunDir(args.output_dir).checkpoint(state.global_step)
            if checkpoint.is_dir():
                (checkpoint / "budget.json").write_text(json.dumps({"budget_s": self.clock.budget_s,
                                                                    "spent_s": self.clock.spent()}), encoding="utf-8")
