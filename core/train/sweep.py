"""Sweeps: a base configuration plus axes, searched as a grid or by an Optuna sampler, one queued run per trial.

A sweep is `workspace/sweeps/<id>/sweep.json` (the spec) plus an Optuna study of the same name in the lab's own
database (`QUILL_DB_URL`, else `workspace/lab.sqlite`; Optuna's tables, `studies`, `trials`, `trial_*`,
`version_info`, `alembic_version`, do not clash with the ratings store's `schema_version`, `samples`, `ratings`,
`comparisons`). Optuna's ask/tell API, not `study.optimize`: a trial is a run in another process that may outlive
this one, so the scheduler (core.train.scheduler) asks for the next trial when the sweep has none waiting and tells
Optuna how each run ended. Every step is idempotent and keyed by the trial number (run `<sweep>-t<NNN>`), so a
scheduler killed anywhere neither loses nor duplicates a trial: see `advance`.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

from core.errors import UserError
from core.files import read_json, write_text_atomic
from core.ratings import studies
from core.ratings.studies import storage_url
from core.train import runs
from core.train.config import TrainConfig, swept_options
from core.train.run_dir import RunDir, check_name
from core.train.state import RunState
from core.workspace import Workspace

# The options a sweep may vary, and their kind (from TrainConfig's declaration, as are their flags and limits);
# the learning rate's range is searched log-uniformly.
AXES = swept_options()
SAMPLERS = ("grid", "tpe", "random")


@dataclass
class Axis:
    values: list = field(default_factory=list)  # the values to try; empty = a range
    low: float | None = None  # the range's bounds (inclusive)
    high: float | None = None

    def distribution(self, name: str):
        # lazy: optuna takes ~170 ms to import, and only this path needs it
        import optuna.distributions as d

        if self.values:
            return d.CategoricalDistribution(self.values)
        if AXES[name] is int:
            return d.IntDistribution(int(self.low), int(self.high))
        return d.FloatDistribution(self.low, self.high, log=name == "learning_rate")


def parse_axis(name: str, text: str) -> Axis:
    """'1e-4,3e-4' is a list, '1e-5:1e-3' a range, '8' a single value (then a list of one)."""
    if name not in AXES:
        raise UserError.coded("sweep_axis_unknown", name=name, axes=", ".join(AXES))
    kind = AXES[name]
    try:
        if ":" in text:
            low, high = (_number(kind, x) for x in text.split(":", 1))
            if not low < high:
                raise UserError.coded("sweep_range_order", range=text, name=name)
            return Axis(low=low, high=high)
        return Axis(values=[_number(kind, x) for x in text.split(",") if x.strip()])
    except ValueError:
        raise UserError.coded("sweep_values_bad", text=text, name=name) from None


def _number(kind: type, text: str) -> int | float:
    """`text` as the axis' kind; '1.5' for a whole-number option is a ValueError, not 1."""
    value = float(text)
    if kind is int and not value.is_integer():
        raise ValueError(text)
    return kind(value)


def split_axes(texts: dict[str, str]) -> tuple[dict, dict[str, Axis]]:
    """Each option's text parsed (empty ones skipped): a single value is not an axis but part of the base
    configuration, returned apart as the fixed options; the rest are the axes."""
    fixed, axes = {}, {}
    for name, text in texts.items():
        if text is None or not str(text).strip():
            continue
        axis = parse_axis(name, str(text))
        if len(axis.values) == 1:
            fixed[name] = axis.values[0]
        else:
            axes[name] = axis
    return fixed, axes


@dataclass
class SweepSpec:
    id: str
    base: dict  # the TrainConfig every trial starts from
    axes: dict[str, dict]  # option -> Axis as a dict
    sampler: str = "grid"  # grid (every combination, in order), tpe or random
    trials: int = 0  # how many trials; 0 = the whole grid
    prune: bool = False  # stop trials worse than the median of earlier ones at the same step
    prune_startup_trials: int = 2  # trials that always run to the end before pruning starts
    prune_warmup_steps: int = 0  # steps before a trial may be pruned
    seed: int = 0  # the sampler's seed
    storage: str = ""  # the database URL holding the Optuna study
    created: float = 0.0
    finished: float | None = None

    def axis(self, name: str) -> Axis:
        return Axis(**self.axes[name])

    def grid(self) -> list[dict]:
        names = list(self.axes)
        if any(not self.axis(n).values for n in names):
            raise UserError.coded("sweep_grid_needs_lists")
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.axis(n).values for n in names))]

    def base_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.base)


def sweeps_dir(workspace: Workspace) -> Path:
    return workspace.root / "sweeps"


def study(spec: SweepSpec):
    """The sweep's Optuna study, with its sampler and pruner (Optuna does not store those: rebuilt each time)."""
    # lazy: optuna takes ~170 ms to import, and only this path needs it
    import optuna

    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=spec.seed),
                "random": lambda: optuna.samplers.RandomSampler(seed=spec.seed),
                # the grid's combinations are enqueued in order at creation; the sampler never has to choose
                "grid": lambda: optuna.samplers.RandomSampler(seed=spec.seed)}
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=spec.prune_startup_trials,
                                          n_warmup_steps=spec.prune_warmup_steps)
              if spec.prune else optuna.pruners.NopPruner())
    return optuna.load_study(study_name=spec.id, storage=studies.storage(spec.storage), sampler=samplers[spec.sampler](),
                             pruner=pruner)


# ---- creating -----------------------------------------------------------------------------------------------

def create(workspace: Workspace, base: TrainConfig, axes: dict[str, Axis], *, sampler: str = "grid", trials: int = 0,
           prune: bool = False, name: str | None = None, prune_startup_trials: int = 2,
           prune_warmup_steps: int | None = None, seed: int = 0, start_scheduler: bool = True) -> SweepSpec:
    """Validate, make the study, queue the first trial and start the scheduler; returns the spec (its id)."""
    # lazy: optuna takes ~170 ms to import, and only this path needs it
    import optuna

    from core.train import queue

    if sampler not in SAMPLERS:
        raise UserError.coded("sweep_sampler_unknown", sampler=sampler, samplers=", ".join(SAMPLERS))
    if not axes:
        raise UserError.coded("sweep_needs_axis")
    runs.preflight(workspace, base)
    for name_, axis in axes.items():  # every value must make a valid run, before anything exists
        for value in axis.values or [axis.low, axis.high]:
            runs.preflight(workspace, replace(base, **{name_: value}))
    sweep_id = _new_id(workspace, name)
    spec = SweepSpec(id=sweep_id, base=base.to_dict(), axes={k: asdict(v) for k, v in axes.items()}, sampler=sampler,
                     trials=trials, prune=prune, prune_startup_trials=prune_startup_trials,
                     prune_warmup_steps=base.eval_steps if prune_warmup_steps is None else prune_warmup_steps,
                     seed=seed, storage=storage_url(workspace), created=time.time())
    grid = spec.grid() if sampler == "grid" else []
    spec.trials = min(trials, len(grid)) if grid and trials else len(grid) or trials
    if spec.trials < 1:
        raise UserError.coded("sweep_needs_trials")
    created = optuna.create_study(study_name=sweep_id, storage=studies.storage(spec.storage), direction="minimize")
    for params in grid[:spec.trials]:
        created.enqueue_trial(params)
    advance(workspace, spec)  # the first trial is queued before the spec is visible to a running scheduler
    _save(workspace, spec)
    if start_scheduler:
        queue.ensure_scheduler(workspace)
    return spec


def _new_id(workspace: Workspace, name: str | None) -> str:
    base = check_name(name, "sweep") if name else f"sweep-{datetime.now():%Y%m%d-%H%M%S}"
    sweeps_dir(workspace).mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = base if n == 1 else f"{base}-{n}"
        try:
            (sweeps_dir(workspace) / candidate).mkdir()  # the atomic claim on the name
            return candidate
        except FileExistsError:
            continue
    raise UserError.coded("sweep_name_taken", name=base)


def _save(workspace: Workspace, spec: SweepSpec) -> None:
    write_text_atomic(sweeps_dir(workspace) / spec.id / "sweep.json", json.dumps(asdict(spec), ensure_ascii=False, indent=2))


def load(workspace: Workspace, sweep_id: str) -> SweepSpec:
    data, problem = read_json(sweeps_dir(workspace) / Path(sweep_id).name / "sweep.json")
    if problem or not isinstance(data, dict):
        raise UserError.coded("sweep_missing", sweep=sweep_id)
    return SweepSpec(**data)


def list_sweeps(workspace: Workspace) -> list[SweepSpec]:
    found = []
    for path in sorted(sweeps_dir(workspace).glob("*/sweep.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            found.append(load(workspace, path.parent.name))
        except (UserError, TypeError):
            continue  # a half-made or foreign folder
    return found


def unfinished(workspace: Workspace) -> list[SweepSpec]:
    return [s for s in list_sweeps(workspace) if not s.finished]


# ---- advancing: tell how trials ended, ask and queue the next one ------------------------------------------------

def trial_run_name(spec: SweepSpec, number: int) -> str:
    return f"{spec.id}-t{number:03d}"


def advance(workspace: Workspace, spec: SweepSpec) -> bool:
    """Tell Optuna how ended trials ended, give every asked trial its queued run, ask the next trial when none of
    this sweep waits in the queue; True while the sweep is not finished. Only the scheduler calls this (and
    `create`, before the sweep is visible), so asks never race."""
    # lazy: optuna takes ~170 ms to import, and only this path needs it
    from optuna.trial import TrialState

    from core.train import queue

    current = study(spec)
    order = queue.read_order(workspace)
    waiting = False
    for trial in current.get_trials(deepcopy=False):
        if trial.state != TrialState.RUNNING:
            continue
        run_dir = workspace.runs_dir / trial_run_name(spec, trial.number)
        if not RunDir(run_dir).config_file.is_file():  # asked, then killed before its run existed: make it now
            _queue_trial(workspace, spec, trial.number, trial.params)
            waiting = True
            continue
        state = runs.status(run_dir)
        if state["state"] == RunState.QUEUED and not state.get("launched") and not state["alive"]:
            if run_dir.name not in order:  # killed between creating the run and queueing it
                _append(workspace, run_dir.name)
            waiting = True
        elif runs.ended(state) and not state["alive"]:
            _tell(current, trial.number, state)
    asked = sum(t.state != TrialState.WAITING for t in current.get_trials(deepcopy=False))  # a grid's enqueued ones wait
    if not waiting and asked < spec.trials:
        trial = current.ask({name: spec.axis(name).distribution(name) for name in spec.axes})
        _queue_trial(workspace, spec, trial.number, trial.params)
        asked += 1
    running = any(t.state == TrialState.RUNNING for t in current.get_trials(deepcopy=False))
    if asked >= spec.trials and not running:
        spec.finished = time.time()
        _save(workspace, spec)
        return False
    return True


def _queue_trial(workspace: Workspace, spec: SweepSpec, number: int, params: dict) -> None:
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.train import queue

    config = replace(spec.base_config(), **params, sweep=spec.id, trial=number, resume_from="")
    run_dir = workspace.runs_dir / trial_run_name(spec, number)
    if not RunDir(run_dir).config_file.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        RunDir(run_dir).write_config(config)
        runs.update_status(run_dir, state=RunState.QUEUED, created=time.time())
    if run_dir.name not in queue.read_order(workspace):
        _append(workspace, run_dir.name)


def _append(workspace: Workspace, run_id: str) -> None:
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.train import queue

    with queue._locked(workspace):
        order = queue.read_order(workspace)
        if run_id not in order:
            queue._write_order(workspace, [*order, run_id])


def _tell(current, number: int, state: dict) -> None:
    # lazy: optuna takes ~170 ms to import, and only this path needs it
    from optuna.trial import TrialState

    # the objective: held-out bits per character (comparable across the trials' tokenizers), else the loss
    value = next((state[k] for k in ("best_bits_per_char", "final_bits_per_char", "best_eval_loss", "final_eval_loss")
                  if state.get(k) is not None), None)
    if state["state"] == RunState.PRUNED:
        current.tell(number, state=TrialState.PRUNED)
    elif state["state"] == RunState.COMPLETED and value is not None and math.isfinite(value):
        current.tell(number, value)
    else:  # stopped, cancelled, failed, out of memory, crashed
        current.tell(number, state=TrialState.FAIL)


def advance_all(workspace: Workspace) -> bool:
    """advance() every unfinished sweep; True while any is unfinished."""
    busy = False
    for spec in unfinished(workspace):
        busy = advance(workspace, spec) or busy
    return busy


# ---- pruning, from inside the trainer ------------------------------------------------------------------------------

class TrialReporter:
    """The trainer's side of pruning: report each validation loss to the study, and ask whether to stop."""

    def __init__(self, workspace: Workspace, config: TrainConfig):
        # lazy: optuna takes ~170 ms to import, and only this path needs it
        import optuna

        self.spec = load(workspace, config.sweep)
        current = study(self.spec)
        storage = studies.storage(self.spec.storage)
        trial_id = storage.get_trial_id_from_study_id_trial_number(current._study_id, config.trial)
        self.trial = optuna.trial.Trial(current, trial_id)

    @property
    def enabled(self) -> bool:
        return self.spec.prune

    def should_prune(self, eval_loss: float, step: int) -> bool:
        self.trial.report(eval_loss, step)
        return self.trial.should_prune()


# ---- comparing ------------------------------------------------------------------------------------------------

def compare(workspace: Workspace, sweep_id: str) -> dict:
    """Everything the comparison shows: the trials (parameters, state, best validation loss, perplexity, tokens/s,
    time, time saved by pruning, mean human score), their curves, the best trial by validation loss and, once the
    trials' samples are rated, the best by mean human score."""
    spec = load(workspace, sweep_id)
    trials, curves = [], {}
    for run_dir in sorted(workspace.runs_dir.glob(f"{spec.id}-t*")):
        try:
            config = RunDir(run_dir).config()
        except UserError:
            continue
        if config.sweep != spec.id:
            continue
        state = runs.status(run_dir)
        metrics = runs.read_metrics(run_dir)
        curves[run_dir.name] = metrics
        evals = [m["eval_loss"] for m in metrics if m.get("eval_loss") is not None]
        best = min(evals) if evals else None
        per_char = [m["bits_per_char"] for m in metrics if m.get("bits_per_char") is not None]
        speeds = [m["tokens_per_s"] for m in metrics if m.get("tokens_per_s")]
        started, ended = state.get("started"), state.get("ended")
        duration = ended - started if started and ended else None
        step, total = state.get("step") or 0, state.get("max_steps") or 0
        saved = duration * (total - step) / step if state["state"] == RunState.PRUNED and duration and step else None
        trials.append({"trial": config.trial, "run": run_dir.name, "state": state["state"],
                       "params": {name: getattr(config, name) for name in spec.axes}, "best_eval_loss": best,
                       "best_bits_per_char": min(per_char) if per_char else None,
                       "perplexity": math.exp(best) if best is not None and best < 700 else None,
                       "tokens_per_s": round(sum(speeds) / len(speeds), 1) if speeds else None,
                       "step": step, "max_steps": total, "duration_s": duration, "saved_s": saved,
                       "started": started, "ended": ended})
    done = [t for t in trials if t["state"] == RunState.COMPLETED and t["best_eval_loss"] is not None]
    best = min(done, key=lambda t: (t["best_bits_per_char"] is None, t["best_bits_per_char"] or 0,
                                    t["best_eval_loss"])) if done else None
    scores = human_scores(spec.storage, [t["run"] for t in trials])
    for trial in trials:
        trial.update(scores.get(trial["run"], {"score": None, "ratings": 0}))
    rated = [t for t in trials if t["score"] is not None]
    best_rated = max(rated, key=lambda t: (t["score"], t["ratings"])) if rated else None
    return {"id": spec.id, "sampler": spec.sampler, "trials_planned": spec.trials, "prune": spec.prune,
            "axes": list(spec.axes), "finished": spec.finished, "trials": sorted(trials, key=lambda t: t["trial"]),
            "best": best, "best_rated": best_rated, "curves": curves,
            "saved_s": sum(t["saved_s"] or 0 for t in trials)}


def human_scores(storage: str, run_names: list[str]) -> dict[str, dict]:
    """Each trial's mean human score ({run: {"score", "ratings"}}, core.ratings.aggregates.mean_score) over the rated
    samples its own weights wrote: its gallery from the first evaluation on, Playground samples of its checkpoints.
    The gallery's step 0 is the base model, the same in every trial, so it does not count."""
    # lazy: sqlalchemy, numpy take ~230 ms to import, and only this path needs them
    from core.ratings.aggregates import mean_score
    from core.ratings.store import open_store

    with open_store(storage) as store:
        own = {s["id"]: run for run in run_names for s in store.samples(run=run) if s["model"].split("/")[0] == run}
        ratings = store.ratings(sample_ids=list(own)) if own else []
    return mean_score([{**r, "trial_run": own[r["sample_id"]]} for r in ratings], by="trial_run")
