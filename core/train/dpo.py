"""Preference tuning (method dpo or dpo_lora): TRL's DPOTrainer on a run's pairs, in the same run folder, with the
same status, metrics, gallery, Stop, checkpoints, resume and final/ as any run (core.train.worker calls this).

The reference model is the parent as it was loaded: on resume too (the checkpoint's weights go to the policy only),
so the DPO loss keeps measuring the distance from the same parent. With LoRA, the reference is the parent with its
adapters switched off (TRL does this for a PeftModel). metrics.jsonl gets the DPO loss, the reward margin and the
reward accuracy (chosen rewarded above rejected) on the training pairs, and the same on the held-out pairs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from core import models
from core.train import trainer_parts as parts
from core.train.config import LORA_METHODS, TrainConfig, default_learning_rate
from core.train.progress import node_main, rank, say
from core.train.run_dir import RunDir, update_status
from core.train.state import Phase, RunState
from core.workspace import Workspace

# TRL's log keys -> metrics.jsonl's (eval_ prefixed for the held-out pairs)
DPO_METRICS = {"rewards/margins": "reward_margin", "rewards/accuracies": "reward_accuracy"}
DEFAULT_DPO_RATE = 5e-6  # DPO moves a trained model a little: the usual rates are 1e-6 to 1e-5


def train_on_pairs(run_dir: Path, config: TrainConfig, stop_requested: threading.Event) -> None:
    """`stop_requested`: the worker's Stop event (its module runs as __main__: an import here would get another)."""
    debug_log = parts.route_library_warnings(run_dir)
    # lazy: datasets, transformers, trl take ~2 s to import, and only this path needs them
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar as quiet_datasets
    from transformers import PrinterCallback
    from transformers.utils import logging as transformers_logging
    from transformers.utils.logging import disable_progress_bar as quiet_transformers
    from trl import DPOConfig, DPOTrainer

    from core.ratings.pairs import held_out
    from core.train.callbacks import GalleryCallback, MetricsCallback, StatusCallback, StopCallback
    from core.train.preference_data import load as load_pairs

    quiet_datasets(), quiet_transformers()
    transformers_logging.disable_default_handler()
    transformers_logging.add_handler(debug_log)
    parts.phase(run_dir, Phase.LOADING_MODEL)
    workspace = Workspace.of_run(run_dir)
    pairs = load_pairs(workspace, config)
    training, held = held_out(pairs, seed=config.seed)
    use_cpu, precision = parts.device_and_precision(config)
    tokenizer, model = models.load(config.model, workspace, for_training=True)
    if config.method in LORA_METHODS:
        model = parts.with_lora(model, config)
    context = models.context_length(model.config) or 512
    learning_rate = config.learning_rate or (
        default_learning_rate("starter") if models.resolve(config.model, workspace).kind == "starter"
        else DEFAULT_DPO_RATE)

    def rows(chosen_pairs):
        return Dataset.from_list([{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in chosen_pairs])

    resume = parts.checkpoint(run_dir, config.resume_from) if config.resume_from else None
    world = int(os.environ.get("WORLD_SIZE", "1"))  # several processes under accelerate (device all): untested here
    args = parts.arguments(run_dir, config, learning_rate=learning_rate, use_cpu=use_cpu, precision=precision,
                             world=world, arguments_class=DPOConfig, beta=config.dpo_beta,
                             max_length=min(config.block_size or context, context), dataset_num_proc=None)
    stop = StopCallback(stop_requested)
    metrics = MetricsCallback(RunDir(run_dir).metrics_file, None, extra=DPO_METRICS)
    gallery = GalleryCallback(run_dir, tokenizer, config)
    trainer = DPOTrainer(model=model, args=args, train_dataset=rows(training), eval_dataset=rows(held),
                         processing_class=tokenizer,
                         callbacks=[metrics, StatusCallback(run_dir, stop_requested), gallery, stop])
    trainer.remove_callback(PrinterCallback)
    say(f"run {run_dir.name}: {config.method} of {config.model} on {len(training)} preference pairs ({len(held)} "
        f"held out) from {config.pairs}; beta {config.dpo_beta:g}; learning rate {learning_rate:g}; "
        f"{'cpu' if use_cpu else 'cuda'} {precision}" + (f"; resuming from {resume.name}" if resume else ""))
    if resume is None:
        gallery.sample(trainer.model, 0)
    elif rank() == 0:
        step = json.loads((resume / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
        for path in (RunDir(run_dir).metrics_file, RunDir(run_dir).samples_file):
            parts.truncate_after(path, step)
        parts.remove_incomplete_checkpoints(run_dir)
    parts.phase(run_dir, Phase.FIRST_STEP, pairs=len(training))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stop.stopped:
        parts.stopped(run_dir, trainer.state.global_step)
        return
    trainer.remove_callback(metrics)
    trainer.remove_callback(gallery)
    _completed(run_dir, trainer, len(training), len(held))


def _completed(run_dir: Path, trainer, trained: int, held: int) -> None:
    """final/ holds the best checkpoint by held-out DPO loss, and its held-out reward accuracy and margin."""
    state = trainer.state
    trainer.save_model(str(RunDir(run_dir).final_dir))
    result = trainer.evaluate()
    best = state.best_model_checkpoint
    if not node_main():
        return
    update_status(run_dir, state=RunState.COMPLETED, ended=time.time(), step=state.global_step,
                  max_steps=state.max_steps, final_eval_loss=result["eval_loss"], final_perplexity=None,
                  final_reward_accuracy=result.get("eval_rewards/accuracies"),
                  final_reward_margin=result.get("eval_rewards/margins"), preference_pairs=trained,
                  held_out_pairs=held, best_eval_loss=state.best_metric,
                  best_checkpoint=Path(best).name if best else None, stopped_early=state.global_step < state.max_steps)
    say(f"completed at step {state.global_step}: held-out DPO loss {result['eval_loss']:.4f}, reward accuracy "
        f"{result.get('eval_rewards/accuracies', float('nan')):.2f}; model saved to {RunDir(run_dir).final_dir}")
