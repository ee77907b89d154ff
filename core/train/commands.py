"""`python -m core train | runs | stop | resume`: fine-tuning runs in the workspace."""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.errors import UserError
from core.train.run_dir import RunDir
from core.train.state import RunState
from core.workspace import Workspace


def register(commands) -> None:
    """Add these commands to `python -m core`'s subparsers."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.dataclass_cli import add_dataclass_arguments
    from core.train.config import PRESETS, TrainConfig

    train = commands.add_parser("train", help="fine-tune a model on a dataset (a run in the workspace)")
    train.add_argument("--config", help="a run configuration JSON file (a run's config.json)")
    train.add_argument("--preset", choices=list(PRESETS), help="start from a preset")
    # every option of TrainConfig, from its declaration; given ones override --config and --preset
    add_dataclass_arguments(train, TrainConfig, aliases={"dataset": ["--data"], "lora_target_modules": ["--lora-target"]})
    train.add_argument("--name", help="the run's name (default: model, dataset and time)")
    train.add_argument("--detach", action="store_true", help="start it and return at once")
    train.add_argument("--queue", action="store_true", help="wait in the queue if the device is busy")
    train.set_defaults(run=cmd_train)

    runs_parser = commands.add_parser("runs", help="list the runs and their state")
    runs_parser.add_argument("--json", action="store_true", help="one JSON list")
    runs_parser.set_defaults(run=cmd_runs)

    stop = commands.add_parser("stop", help="stop a run (it saves a checkpoint first)")
    stop.add_argument("run_name", metavar="RUN", help="the run's id (see `python -m core runs`)")
    stop.set_defaults(run=cmd_stop)

    resume = commands.add_parser("resume", help="continue a stopped or crashed run from a checkpoint")
    resume.add_argument("run_name", metavar="RUN", help="the run's id (see `python -m core runs`)")
    resume.add_argument("--checkpoint", help="a checkpoint directory (default: the latest)")
    resume.add_argument("--detach", action="store_true")
    resume.set_defaults(run=cmd_resume)


def cmd_train(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.dataclass_cli import namespace_to_dataclass
    from core.train import preference_data, runs
    from core.train.config import TrainConfig, apply_preset

    workspace = Workspace.from_env()
    config = TrainConfig.load(args.config) if args.config else TrainConfig()
    if args.preset:
        config = apply_preset(config, args.preset)
    config = namespace_to_dataclass(args, TrainConfig, base=config)
    config = preference_data.settle(workspace, config)  # --pairs ratings: the lab database's pairs, as a file
    if args.queue:  # wait in the queue for the device instead of being refused
        # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
        from core.train import queue

        run_dir = queue.enqueue(workspace, config, name=args.name)
        print(run_dir)
        print(f"queued: it starts when {', '.join(runs.devices_of(config))} is free (`python -m core queue` lists it)")
        return
    run_dir = runs.start(workspace, config, name=args.name)
    print(run_dir)
    if args.detach:
        print(f"training in the background: `python -m core runs` shows it, `python -m core stop {run_dir.name}` stops it")
        return
    _follow(run_dir)

def _follow(run_dir: Path) -> None:
    """Print the run's progress until it ends; Ctrl-C leaves it training."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import runs

    printed = 0
    try:
        while True:
            status = runs.status(run_dir)
            metrics = runs.read_metrics(run_dir)
            for line in metrics[printed:]:
                if line.get("eval_reward_accuracy") is not None:  # preference tuning (core.train.dpo)
                    print(f"step {line['step']}: held-out DPO loss {line['eval_loss']:.3f}, reward accuracy "
                          f"{line['eval_reward_accuracy']:.2f}, margin {line.get('eval_reward_margin') or 0:.3f}")
                elif line.get("reward_margin") is not None:
                    print(f"step {line['step']}: DPO loss {line['loss']:.3f}, reward margin {line['reward_margin']:.3f}")
                elif line.get("eval_loss") is not None:
                    perplexity = f"{line['perplexity']:.1f}" if line.get("perplexity") is not None else "∞"
                    per_char = f", {line['bits_per_char']:.3f} bits/char" if line.get("bits_per_char") is not None else ""
                    print(f"step {line['step']}: validation loss {line['eval_loss']:.3f} (perplexity {perplexity}"
                          f"{per_char})")
                elif line.get("loss") is not None:
                    print(f"step {line['step']}: loss {line['loss']:.3f}, {line.get('tokens_per_s') or 0:,.0f} tokens/s")
            printed = len(metrics)
            if runs.ended(status):
                break
            time.sleep(1)
    except KeyboardInterrupt:
        print(f"\nthe run goes on in the background: `python -m core stop {run_dir.name}` stops it")
        return
    if status["state"] != RunState.COMPLETED:
        if status.get("error"):
            raise UserError.coded("run_ended", run=run_dir.name, state=status["state"], reason=status["error"])
        raise UserError.coded("run_ended_see_log", run=run_dir.name, state=status["state"])
    print(f"completed: final model in {RunDir(run_dir).final_dir}")

def cmd_runs(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import runs

    listed = runs.list_runs(Workspace.from_env())
    if args.json:
        print(json.dumps(listed, default=str))
        return
    if not listed:
        print("no runs yet: start one with `python -m core train --data DATASET --model starter`")
    for run in listed:
        best = run.get("best_eval_loss")
        per_char = run.get("best_bits_per_char")
        state = f"{run['state']} ({run['error']})" if run["state"] == RunState.UNREADABLE else run["state"]
        print(f"{run['id']:<44} {state:<10} {run.get('model') or '':<20} step {run.get('step') or 0}/"
              f"{run.get('max_steps') or '?'}  best {best if best is not None else '–'}"
              + (f" ({per_char:.3f} bits/char)" if per_char is not None else ""))

def cmd_stop(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import runs

    run_dir = _run_dir(args.run_name)
    runs.stop(run_dir)
    print(f"asked {run_dir.name} to stop: it saves a checkpoint, then ends as 'stopped'")

def cmd_resume(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import runs

    run_dir = _run_dir(args.run_name)
    note = runs.resume(run_dir, args.checkpoint)
    print(run_dir)
    print(note)
    if not args.detach:
        _follow(run_dir)

def _run_dir(name: str) -> Path:
    return Workspace.from_env().run_dir(name)  # a run id, never a path: "no such run" otherwise
