"""`python -m core sweep ...` and `python -m core queue ...`: sweeps and the run queue on the command line."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from core.errors import UserError
from core.workspace import Workspace


def cmd_sweep(args) -> None:
    if args.action == "show":
        return _show(args)
    if args.action == "list":
        return _list(args)
    if args.action:
        raise UserError.coded("sweep_action_unknown", action=args.action)
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import sweep
    from core.train.config import TrainConfig

    workspace = Workspace.from_env()
    base = TrainConfig.load(args.config) if args.config else TrainConfig()
    fixed, axes = sweep.split_axes({name: getattr(args, name) for name in sweep.AXES})
    options = {"dataset": args.data, "model": args.model, "eval_steps": args.eval_steps, "device": args.device,
               "seed": args.seed, "time_budget": args.time_budget}
    base = replace(base, **{k: v for k, v in options.items() if v is not None}, **fixed)
    spec = sweep.create(workspace, base, axes, sampler=args.sampler, trials=args.trials or 0, prune=args.prune,
                        name=args.name, **({"prune_startup_trials": args.prune_startup}
                                           if args.prune_startup is not None else {}))
    print(spec.id)
    if args.detach:
        print(f"{spec.trials} trials queued one after another: `python -m core sweep show {spec.id}` compares them")
        return
    _follow(workspace, spec.id)


def _follow(workspace: Workspace, sweep_id: str) -> None:
    """A live table: one line each time a trial changes state; then the best trial. Ctrl-C leaves it running."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import sweep

    seen: dict[str, str] = {}
    try:
        while True:
            data = sweep.compare(workspace, sweep_id)
            for trial in data["trials"]:
                if seen.get(trial["run"]) != trial["state"]:
                    seen[trial["run"]] = trial["state"]
                    print(_row(trial), flush=True)
            if data["finished"]:
                break
            time.sleep(2)
    except KeyboardInterrupt:
        print(f"\nthe sweep goes on in the background: `python -m core sweep show {sweep_id}`")
        return
    _print_best(data)


def _row(trial: dict) -> str:
    params = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial["params"].items())
    loss = f"{trial['best_eval_loss']:.4f}" if trial["best_eval_loss"] is not None else "–"
    score = f"  human {trial['score']:.2f} ({trial['ratings']} ratings)" if trial.get("score") is not None else ""
    return f"trial {trial['trial']:>3}  {trial['run']:<36} {trial['state']:<10} best {loss:<8} {params}{score}"


def _print_best(data: dict) -> None:
    """The last lines: the best trial by validation loss, then (once rated) by mean human score."""
    if data["saved_s"]:
        print(f"pruning saved about {data['saved_s']:.0f} s of training")
    best, rated = data["best"], data.get("best_rated")
    if best is None:
        print("no trial completed: see `python -m core runs` for why")
    else:
        print(f"best trial: {best['trial']} ({best['run']}), validation loss {best['best_eval_loss']:.4f}"
              f" with {best['params']}; open it with `python -m core sample --model {best['run']} ...`")
    if rated is not None:
        print(f"best trial by mean human score: {rated['trial']} ({rated['run']}), {rated['score']:.2f} of 5"
              f" over {rated['ratings']} ratings")


def _show(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import sweep

    if not args.sweep_id:
        raise UserError.coded("sweep_which")
    data = sweep.compare(Workspace.from_env(), args.sweep_id)
    if args.json:
        print(json.dumps({k: v for k, v in data.items() if k != "curves"}, default=str))
        return
    print(f"sweep {data['id']}: {data['sampler']}, {len(data['trials'])} of {data['trials_planned']} trials"
          + (", finished" if data["finished"] else ""))
    for trial in data["trials"]:
        print(_row(trial))
    _print_best(data)


def _list(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import sweep

    for spec in sweep.list_sweeps(Workspace.from_env()):
        print(f"{spec.id:<40} {spec.sampler:<7} {spec.trials} trials  {'finished' if spec.finished else 'running'}")


def cmd_queue(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.train import queue, scheduler

    workspace = Workspace.from_env()
    if args.action == "run":
        owned = scheduler.run_scheduler(workspace)
        print("queue empty" if owned else "another scheduler owns the queue")
        return
    if args.action == "cancel":
        queue.cancel(workspace, _need(args.run_name, "cancel"))
        print(f"cancelled {args.run_name}")
        return
    if args.action == "move":
        if args.to is None:
            raise UserError.coded("queue_move_where")
        order = queue.move(workspace, _need(args.run_name, "move"), args.to)
        print(f"{args.run_name} is now number {order.index(args.run_name) + 1} of {len(order)}")
        return
    listed = queue.entries(workspace)
    if args.json:
        print(json.dumps(listed))
        return
    if not listed:
        print("the queue is empty")
    for entry in listed:
        print(f"{entry['position']:>3}  {entry['id']:<40} waits for {', '.join(entry['devices']) or '?'}")


def _need(run_name: str | None, action: str) -> str:
    if not run_name:
        raise UserError.coded("queue_which_run", action=action)
    return run_name


def register(commands) -> None:
    """Add `sweep` and `queue` to the CLI's subcommands."""
    sweep = commands.add_parser("sweep", help="search learning rate, batch size, ... over many queued runs")
    sweep.add_argument("action", nargs="?", choices=["show", "list"], help="show ID: compare a sweep's trials")
    sweep.add_argument("sweep_id", nargs="?", metavar="ID")
    sweep.add_argument("--json", action="store_true", help="show: one JSON object")
    sweep.add_argument("--data", help="a dataset name in the workspace, or a dataset directory")
    sweep.add_argument("--model", help="hub id, 'starter', a run or checkpoint, or a local directory")
    sweep.add_argument("--config", help="a base configuration JSON file")
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.dataclass_cli import flag, meta
    from core.train.config import TrainConfig, swept_options

    for name in swept_options():  # the same flag as `train`'s for the option (`--warmup-ratio`), its help from the declaration
        sweep.add_argument(flag(name), dest=name, help=f"{meta(TrainConfig, name)['help']}: a list a,b,c, a range "
                           "low:high, or one value".replace("%", "%%"))
    sweep.add_argument("--eval-steps", type=int)
    sweep.add_argument("--device", help="auto, cpu, cuda:N or all")
    sweep.add_argument("--seed", type=int)
    sweep.add_argument("--time-budget", help="each trial trains for this long (90s, 10m, 1h) instead of by steps")
    sweep.add_argument("--trials", type=int, help="how many trials (default: the whole grid)")
    sweep.add_argument("--sampler", choices=["grid", "tpe", "random"], default="grid")
    sweep.add_argument("--prune", action="store_true", help="stop trials worse than the median at the same step")
    sweep.add_argument("--prune-startup", type=int, help="trials that run to the end before pruning (default 2)")
    sweep.add_argument("--name", help="the sweep's name (default: sweep and the time)")
    sweep.add_argument("--detach", action="store_true", help="queue it and return at once")
    sweep.set_defaults(run=cmd_sweep)

    queue = commands.add_parser("queue", help="the runs waiting for a device: list, cancel, move, run")
    queue.add_argument("action", nargs="?", choices=["cancel", "move", "run"])
    queue.add_argument("run_name", nargs="?", metavar="RUN")
    queue.add_argument("--to", type=int, help="move: the new position (1 = next)")
    queue.add_argument("--json", action="store_true", help="one JSON list")
    queue.set_defaults(run=cmd_queue)
