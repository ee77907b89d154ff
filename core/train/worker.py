"""The training process: one run directory in, a fine-tuned model out.

    python -m core.train.worker RUN_DIR
    python -m accelerate.commands.launch --multi_gpu --num_processes N -m core.train.worker RUN_DIR   (DDP)

Reads RUN_DIR/config.json, fine-tunes with the Hugging Face `Trainer` on packed blocks, and leaves what the dashboard
reads: status.json (replaced atomically), metrics.jsonl and samples.jsonl (appended), checkpoint-*/ and final/.
Only rank 0 writes those files; train.log is this process's stdout and stderr.

SIGTERM or SIGINT: save a checkpoint at the end of the current step and end as `stopped`.
Exit codes: 0 completed or stopped, 1 failed, 3 out of memory.

Test hooks: QUILL_FAULT=oom@STEP or QUILL_FAULT=error@STEP raises a CUDA out-of-memory error (or a plain
RuntimeError) when training reaches that step, so CI tests the failure handling without a GPU;
QUILL_FAULT=kill-during-save@STEP SIGKILLs the trainer halfway through writing checkpoint-STEP.

The trainer is started by core.train.runs, which hands it the run's and the devices' lock descriptors: it holds
them, without knowing their numbers, until it exits.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

from core import models
from core.data import dataset as datasets
from core.errors import UserError, first_line
from core.models import fitted_tokenizer
from core.train.budget import EVAL_BLOCKS, Clock, lr_factor, parse_duration
from core.train.config import (
    LORA_METHODS,
    PREFERENCE_METHODS,
    TrainConfig,
    default_learning_rate,
    fits_tokenizer,
    from_scratch,
    require_valid,
)
from core.train.dpo import train_on_pairs
from core.train.progress import MAX_PERPLEXITY_LOSS
from core.train.progress import node_main as _node_main
from core.train.progress import rank as _rank
from core.train.progress import say as _say
from core.train.run_dir import RunDir, read_status, update_status
from core.train.sizing import max_passes, plan
from core.train.speed import Device, apply_to_model
from core.train.speed import resolve as resolve_speed
from core.train.state import Phase, RunState
from core.train.trainer_parts import (
    arguments as _arguments,
)
from core.train.trainer_parts import (
    checkpoint as _checkpoint,
)
from core.train.trainer_parts import (
    device_and_precision as _device_and_precision,
)
from core.train.trainer_parts import (
    phase as _phase,
)
from core.train.trainer_parts import (
    remove_incomplete_checkpoints as _remove_incomplete_checkpoints,
)
from core.train.trainer_parts import (
    route_library_warnings as _route_library_warnings,
)
from core.train.trainer_parts import (
    stopped as _stopped,
)
from core.train.trainer_parts import (
    truncate_after as _truncate_after,
)
from core.train.trainer_parts import (
    with_lora as _with_lora,
)
from core.workspace import Workspace

# torch and transformers are imported inside the functions: `main` installs the Stop handler first, so a Stop that
# arrives during the seconds of importing is not a kill.

_stop = threading.Event()  # set by the signal handler; the Trainer checks it at each step end


def _request_stop(signum, frame) -> None:
    _stop.set()  # nothing else here: printing inside a signal handler can hit a reentrant write on stdout


def _is_oom(exc: BaseException) -> bool:
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


# ---- data ---------------------------------------------------------------------------------------------------


# ---- the run ------------------------------------------------------------------------------------------------

def train(run_dir: Path) -> None:
    """Run the training that RUN_DIR/config.json describes; status.json says how it ended. Raises on failure."""
    run_dir = Path(run_dir).resolve()
    main_process = _node_main()
    try:
        config = RunDir(run_dir).config()
        if main_process:
            _mark_started(run_dir, config)
        if config.method in PREFERENCE_METHODS:
            train_on_pairs(run_dir, config, _stop)
        else:
            _train(run_dir, config)
    except Exception as exc:
        if main_process:
            oom = _is_oom(exc)
            details = {} if isinstance(exc, UserError) else {"traceback": traceback.format_exc()[-4000:]}
            update_status(run_dir, state=RunState.OOM if oom else RunState.FAILED, error=first_line(exc), ended=time.time(),
                          **details)
            _say(f"{'out of memory' if oom else 'failed'}: {first_line(exc)}")
        raise


def _mark_started(run_dir: Path, config: TrainConfig) -> None:
    previous = read_status(run_dir)
    now = time.time()
    # runs.launch recorded the pid to watch (under accelerate: the launcher, not this rank); alone, it is us.
    pid = previous.get("pid") if previous.get("state") == RunState.QUEUED and previous.get("pid") else os.getpid()
    fields = {"state": RunState.STOPPING if _stop.is_set() else RunState.RUNNING, "pid": pid, "worker_pid": os.getpid(),
              "ended": None, "error": None, "traceback": None}
    if config.resume_from and previous.get("started"):
        fields["resumed"] = now  # `started` stays: the run is the same one, its duration goes on
    else:
        fields["started"] = now
    update_status(run_dir, **fields)


def _data(workspace, config: TrainConfig, tokenizer, block_size: int, context: int | None):
    """Training and validation blocks, read from the dataset's token file (tokenized now on the first run with this
    tokenizer); validates the configuration against them."""
    # lazy: torch, numpy take ~1 s to import, and only this path needs them
    from core.data import tokens
    from core.train.blocks import from_token_files

    data_dir = datasets.resolve(workspace, config.dataset)
    files = tokens.ensure(data_dir, tokenizer)  # the first process on a machine tokenizes, the others wait
    train_blocks = from_token_files(files, "data", block_size)
    require_valid(replace(config, block_size=block_size), model_context=context, train_blocks=len(train_blocks))
    eval_blocks = from_token_files(files, "validation", block_size)
    if not len(eval_blocks):
        # No validation block at this size: hold out the last 5% of the training blocks rather than not evaluate.
        held = max(1, len(train_blocks) // 20)
        if len(train_blocks) > held:
            train_blocks, eval_blocks = train_blocks.split_tail(held)
        else:
            eval_blocks = train_blocks  # a single block: evaluate on it rather than not at all
        _say(f"the validation split gives no block of {block_size} tokens: holding out {len(eval_blocks)} blocks")
    return train_blocks, eval_blocks


def _train(run_dir: Path, config: TrainConfig) -> None:
    debug_log = _route_library_warnings(run_dir)
    # lazy: datasets, transformers take ~1 s to import, and only this path needs them
    from datasets.utils.logging import disable_progress_bar as quiet_datasets
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, default_data_collator
    from transformers.utils import logging as transformers_logging
    from transformers.utils.logging import disable_progress_bar as quiet_transformers

    quiet_datasets(), quiet_transformers()  # progress bars (loading, saving shards) would garble train.log
    transformers_logging.disable_default_handler()  # its stderr handler would put its warnings into train.log
    transformers_logging.add_handler(debug_log)
    _phase(run_dir, Phase.LOADING_MODEL)
    # lazy: torch, transformers, sqlalchemy take ~2 s to import, and only this path needs them
    from core.train.callbacks import FaultCallback as Fault
    from core.train.callbacks import GalleryCallback as Gallery
    from core.train.callbacks import MetricsCallback as Metrics
    from core.train.callbacks import PassesCallback as Passes
    from core.train.callbacks import StatusCallback as Status
    from core.train.callbacks import StopCallback as Stop
    workspace = Workspace.of_run(run_dir)  # names (the starter, a dataset) resolve in the run's own workspace
    source = models.resolve(config.model, workspace)
    use_cpu, precision = _device_and_precision(config)
    tokenizer, model = models.load(config.model, workspace, for_training=True)
    scratch = from_scratch(config, source.kind)
    resume = _checkpoint(run_dir, config.resume_from) if config.resume_from else None
    scratch_rate = passes_allowed = None
    if scratch:
        tokenizer, model, scratch_rate, passes_allowed = _scratch_model(run_dir, workspace, config, tokenizer, resume)
    elif config.random_init:
        # lazy: transformers takes ~650 ms to import, and only this path needs it
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_config(model.config)  # the same architecture, new random weights
    if config.method in LORA_METHODS:
        model = _with_lora(model, config)
    context = models.context_length(model.config)
    block_size = config.block_size or min(context or 512, 512)
    learning_rate = config.learning_rate or scratch_rate or default_learning_rate(source.kind, config.random_init)
    _phase(run_dir, Phase.TOKENIZING, documents=datasets.info(datasets.resolve(workspace, config.dataset)).documents)
    train_blocks, eval_blocks = _data(workspace, config, tokenizer, block_size, context)
    if scratch:
        train_blocks = train_blocks.shifted()  # many epochs of a small corpus: new windows each time (core.train.blocks)
    speed = resolve_speed(config, Device.current(use_cpu), scratch=scratch)
    apply_to_model(model, speed)
    world = int(os.environ.get("WORLD_SIZE", "1"))

    tokens_per_step = config.batch_size * config.grad_accum * world * block_size  # every block is full
    all_eval_blocks = eval_blocks
    if config.time_budget:  # evaluations inside a budget must not eat it: a fixed sample, the whole split at the end

        eval_blocks = eval_blocks.split_tail(max(0, eval_blocks.count - EVAL_BLOCKS))[0]
    held_out = _held_out(tokenizer, eval_blocks)
    metrics = Metrics(RunDir(run_dir).metrics_file, tokens_per_step, held_out)
    gallery = Gallery(run_dir, tokenizer, config)
    stop = Stop(_stop)
    callbacks = [metrics, Status(run_dir, _stop, held_out), gallery, stop]
    if config.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    fault = os.environ.get("QUILL_FAULT", "")
    if fault and not fault.startswith("kill-during-save"):
        callbacks.append(Fault(fault))
    args = _arguments(run_dir, config, learning_rate=learning_rate, use_cpu=use_cpu, precision=precision, world=world,
                      speed=speed, scratch=scratch)
    clock = _budget_clock(config, resume)
    if clock is not None:
        # lazy: torch, transformers, sqlalchemy take ~2 s to import, and only this path needs them
        from core.train.callbacks import BudgetCallback

        callbacks.append(BudgetCallback(clock))
        Trainer = _on_the_clock(Trainer, clock, config)  # noqa: N806 - the class the run trains with
    if scratch and resume is None:  # a resumed run keeps its checkpoint's dropout and its clock's budget
        # after BudgetCallback, whose projection of the run's steps it reads
        callbacks.append(Passes(run_dir, len(train_blocks) * block_size, tokens_per_step, clock,
                                max_passes=passes_allowed, dropout=config.dropout is None))
    trainer = Trainer(model=model, args=args, data_collator=default_data_collator,
                      train_dataset=train_blocks, eval_dataset=eval_blocks,
                      processing_class=tokenizer, callbacks=callbacks, **speed.trainer_options(args))
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; MetricsCallback prints readable lines
    pruning = _pruning_callback(workspace, config, world, held_out)
    if pruning is not None:
        trainer.add_callback(pruning)
    if fault.startswith("kill-during-save"):
        _kill_during_save(trainer, int(fault.partition("@")[2] or 1))

    _say(f"run {run_dir.name}: {config.model} ({source.kind}) on {config.dataset}: {len(train_blocks)} training and "
         f"{len(eval_blocks)} validation blocks of {block_size} tokens; learning rate {learning_rate:g}; "
         f"{'cpu' if use_cpu else 'cuda'} {precision}, {world} process(es); {describe_speed(speed)}"
         + (f"; resuming from {resume.name}" if resume else ""))
    if resume is None:
        gallery.sample(trainer.model, 0)  # the gallery starts with the model as it was
    elif _rank() == 0:
        step = json.loads((resume / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
        for path in (RunDir(run_dir).metrics_file, RunDir(run_dir).samples_file):
            _truncate_after(path, step)
        _remove_incomplete_checkpoints(run_dir)

    _phase(run_dir, Phase.FIRST_STEP, blocks=len(train_blocks))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if pruning is not None and pruning.pruned:
        _pruned(run_dir, trainer.state.global_step)
    elif stop.stopped:
        _stopped(run_dir, trainer.state.global_step)
    else:
        trainer.remove_callback(metrics)  # the last evaluation is a summary, not a point on the curve
        trainer.remove_callback(gallery)
        _completed(run_dir, trainer, all_eval_blocks, _held_out(tokenizer, all_eval_blocks), clock)
    _finish_distributed()


def _scratch_model(run_dir: Path, workspace, config: TrainConfig, tokenizer, resume: Path | None):
    """(tokenizer, model, default learning rate, passes allowed) of a from-scratch run: a tokenizer fitted to the training split
    (core.models.fitted_tokenizer) unless told to keep the model's, and a GPT-2 sized for the corpus and the budget
    (core.train.sizing). A resumed run takes both from its checkpoint. The size and the reason go to status.json."""
    # lazy: torch, transformers take ~2 s to import, and only this path needs them
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

    texts = datasets.read_texts(datasets.resolve(workspace, config.dataset), "data")
    chars = sum(map(len, texts))
    shape = plan(config, "starter", chars)
    if resume is not None:
        return (AutoTokenizer.from_pretrained(resume), AutoModelForCausalLM.from_pretrained(resume),
                shape.learning_rate, max_passes(chars))
    if fits_tokenizer(config):
        tokenizer = fitted_tokenizer.fit(texts)
    budget_s = parse_duration(config.time_budget)
    dropout = config.dropout or 0.0  # None: none until PassesCallback has counted the run's passes
    torch.manual_seed(config.seed)
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_positions=shape.context, n_embd=shape.width, n_layer=shape.layers,
        n_head=shape.heads, resid_pdrop=dropout, embd_pdrop=dropout,
        attn_pdrop=0.0,  # on the attention weights (heads x context x context) it made a CPU step ~30% slower
        activation_function="gelu_pytorch_tanh",  # GPT-2's gelu in one fused kernel instead of several
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id))
    described = shape.describe(budget_s, chars, len(tokenizer) if fits_tokenizer(config) else None)
    if _node_main():
        update_status(run_dir, model_size=described)
    _say(f"from scratch: {described} ({model.num_parameters() / 1e6:.2f}M parameters)")
    return tokenizer, model, shape.learning_rate, max_passes(chars)


def _budget_clock(config: TrainConfig, resume: Path | None):
    """The run's budget clock, or None for a run of steps or epochs; a resumed run goes on from the time spent up to
    its checkpoint."""
    budget_s = parse_duration(config.time_budget)
    if budget_s is None:
        return None
    spent = 0.0
    if resume is not None and (resume / "budget.json").is_file():
        saved = json.loads((resume / "budget.json").read_text(encoding="utf-8"))
        spent = float(saved.get("spent_s", 0.0))
        budget_s = min(budget_s, float(saved.get("budget_s", budget_s)))  # shortened by PassesCallback
    return Clock(budget_s, spent)


def _on_the_clock(trainer_class, clock, config: TrainConfig):
    """The Trainer with its learning rate on the budget's clock (warm-up and decay as shares of the time)."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    from torch.optim.lr_scheduler import LambdaLR

    class BudgetTrainer(trainer_class):
        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.lr_scheduler is None:
                self.lr_scheduler = LambdaLR(optimizer or self.optimizer, lambda _step: lr_factor(
                    clock.progress(), warmup=config.warmup_ratio, schedule=config.scheduler))
            return self.lr_scheduler

    return BudgetTrainer


def _held_out(tokenizer, blocks):
    """What the validation blocks' predicted tokens spell (core.evaluation.bits.HeldOut): each evaluation's loss
    becomes bits per character, comparable across tokenizers."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    import numpy as np

    from core.evaluation.bits import HeldOut, TokenText

    stream = np.memmap(blocks.path, dtype=blocks.dtype, mode="r", shape=(blocks.tokens,))
    characters, utf8_bytes = TokenText(tokenizer).predicted_in_stream(stream, blocks.block_size, blocks.first,
                                                                      blocks.count)
    return HeldOut(blocks.count * (blocks.block_size - 1), characters, utf8_bytes)


def describe_speed(speed) -> str:
    return (f"compile {'on' if speed.compile else 'off'}, {speed.optim}, tf32 {'on' if speed.tf32 else 'off'}, "
            f"attention {speed.attn_implementation or 'default'}, {speed.dataloader_workers} loader worker(s)")


def _kill_during_save(trainer, step: int) -> None:
    """Test hook (QUILL_FAULT=kill-during-save@STEP): SIGKILL the whole trainer at checkpoint-STEP after the weights
    are written and optimizer.pt is begun (empty), before trainer_state.json: what a kill during a save leaves."""
    save = getattr(trainer, "_save_optimizer_and_scheduler", None)  # private: fail loudly if a release renames it
    if save is None:
        raise RuntimeError("QUILL_FAULT=kill-during-save needs Trainer._save_optimizer_and_scheduler")

    def save_then_die(output_dir):
        if trainer.state.global_step == step:
            Path(output_dir, "optimizer.pt").touch()
            os.killpg(os.getpgid(0), signal.SIGKILL)  # runs.launch made the trainer its own process group
        save(output_dir)

    trainer._save_optimizer_and_scheduler = save_then_die


def _completed(run_dir: Path, trainer, eval_blocks, held_out, clock=None) -> None:
    """Keep the best model (load_best_model_at_end has loaded it) in final/, and evaluate it once more."""
    state = trainer.state
    trainer.save_model(str(RunDir(run_dir).final_dir))  # model and tokenizer (processing_class); rank 0 writes
    loss = trainer.evaluate(eval_dataset=eval_blocks)["eval_loss"]  # the whole validation split
    if _node_main():
        best = state.best_model_checkpoint
        update_status(run_dir, state=RunState.COMPLETED, ended=time.time(), step=state.global_step,
                      max_steps=state.global_step if clock else state.max_steps, final_eval_loss=loss,
                      final_perplexity=math.exp(loss) if loss < MAX_PERPLEXITY_LOSS else None,
                      final_bits_per_char=held_out.bits_per_char(loss),
                      # final/ is the best model (load_best_model_at_end), scored here on the whole split
                      best_bits_per_char=held_out.bits_per_char(loss),
                      best_eval_loss=state.best_metric, best_checkpoint=Path(best).name if best else None,
                      # a budget ends by the clock; before it is spent only early stopping ends a run
                      stopped_early=not clock.over() if clock else state.global_step < state.max_steps)
    _say(f"completed at step {state.global_step}: validation loss {loss:.4f} ({held_out.bits_per_char(loss):.3f} bits "
         f"per character); model saved to {RunDir(run_dir).final_dir}")


def _finish_distributed() -> None:
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    # First thing, before the slow imports: a Stop that comes early still ends in a checkpoint, not a kill.
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m core.train.worker RUN_DIR", file=sys.stderr)
        return 2
    try:
        train(Path(argv[0]))
    except Exception as exc:  # noqa: BLE001 - every failure ends as a status, a log line and an exit code
        if not isinstance(exc, UserError):
            traceback.print_exc()
        print(f"error: {first_line(exc)}", file=sys.stderr, flush=True)
        return 3 if _is_oom(exc) else 1
    finally:
        _hand_over(Path(argv[0]))
    return 0


# ---- sweeps and the queue (issue 14) --------------------------------------------------------------------------

def _pruning_callback(workspace, config: TrainConfig, world: int, held_out):
    """For a trial of a sweep with pruning on: at each evaluation, report the validation loss to the study and stop
    (with a checkpoint) when Optuna's MedianPruner says so. Single-process runs only: under DDP every rank would
    have to agree on the decision, as StopCallback does for a Stop."""
    if not config.sweep or world > 1:
        return None
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import TrainerCallback

    from core.train.sweep import TrialReporter

    reporter = TrialReporter(workspace, config)
    if not reporter.enabled:
        return None

    class PruneCallback(TrainerCallback):
        pruned = False

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not metrics or "eval_loss" not in metrics:
                return
            # the study's objective is bits per character (core.train.sweep._tell): report the same unit
            value = held_out.bits_per_char(metrics["eval_loss"])
            if reporter.should_prune(metrics["eval_loss"] if value is None else value, state.global_step):
                self.pruned = True
                control.should_save = True  # the checkpoint of this step: a pruned trial can still be resumed
                control.should_training_stop = True
                _say(f"step {state.global_step}: worse than the median of earlier trials, pruned")
            return control

    return PruneCallback()


def _pruned(run_dir: Path, step: int) -> None:
    if _node_main():
        update_status(run_dir, state=RunState.PRUNED, ended=time.time(), step=step,
                      last_checkpoint=RunDir(run_dir).checkpoint(step).name)
    _say(f"pruned at step {step}: checkpoint-{step} saved")


def _hand_over(run_dir: Path) -> None:
    """As the trainer ends, make sure a scheduler will start what waits for this device (if none owns the queue:
    one killed, or never started). Never fails the run: the queue can always be restarted by hand."""
    if _rank() != 0:
        return
    try:
        # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
        from core.train import scheduler

        scheduler.hand_over(Workspace.of_run(run_dir))
    except Exception as exc:  # noqa: BLE001 - the run's own outcome is already written
        print(f"note: could not hand the queue over: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
