"""Runs in the workspace: create, launch, watch, stop, resume and delete them, all through files.

A run is `workspace/runs/<id>/`. The trainer (`core.train.worker`) runs in its own process session and keeps
`status.json` current; everything here only reads that file and the others, plus one liveness check on the
process, so the page, the command line and a restarted Streamlit server all see the same run. Reading never writes:
a live state whose process is gone reads as `crashed`, and only the process that launched the run records it.

One run, one trainer: starting or resuming takes exclusive OS file locks on the run and on its devices, which the
trainer process inherits and holds until it ends.

Light on purpose: no torch import at module level (the page imports this on every rerun).
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from core import models
from core.data import dataset as datasets
from core.errors import UserError
from core.files import read_json
from core.models.adapters import module_names
from core.models.checkpoints import checkpoint_problem, complete_checkpoints, incomplete_checkpoints
from core.train import gallery
from core.train.config import LORA_METHODS, PREFERENCE_METHODS, TrainConfig, require_valid
from core.train.memory import model_architecture
from core.train.run_dir import (
    Lines,
    RunDir,
    check_name,
    checkpoint_step,
    read_status,
    slug,
    update_status,
)
from core.train.state import FINAL, LIVE, RunState
from core.workspace import Workspace

EXIT_GRACE_S = 30  # how long `wait` lets a run that reported its end take to exit
KILL_AFTER_S = 30  # a second Stop after this long sends SIGKILL: the trainer had its chance to save
# A lock held only this long is not a trainer: a launcher recording a run's end, or a trainer whose main thread
# has exited (it reads as gone) while its last threads still hold its open files.
LOCK_PATIENCE_S = 2.0


# ---- status.json --------------------------------------------------------------------------------------------

# ---- creating and launching ---------------------------------------------------------------------------------

def create(workspace: Workspace, config: TrainConfig, name: str | None = None) -> Path:
    """A new run directory with its config.json and a `queued` status.json."""
    base = check_name(name) if name else _default_id(config)
    run_dir, made = None, False
    try:
        workspace.runs_dir.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            run_dir = workspace.runs_dir / (base if n == 1 else f"{base}-{n}")
            try:
                run_dir.mkdir()  # mkdir is the atomic claim on the name: two tabs starting at once get two runs
                made = True
                break
            except FileExistsError:
                continue
        else:
            raise UserError.coded("run_name_taken", name=base)
        RunDir(run_dir).write_config(config)
        update_status(run_dir, state=RunState.QUEUED, created=time.time())
    except OSError as exc:  # a full or read-only disk: no half-made run is left behind
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise UserError.coded("run_create_failed", folder=workspace.runs_dir, reason=exc.strerror or exc) from exc
    return run_dir


def _default_id(config: TrainConfig) -> str:
    model = Path(config.model.rstrip("/")).name or "model"
    data = Path((config.dataset or Path(config.pairs).stem).rstrip("/")).name or "data"
    return slug(f"{model}-{data}-{datetime.now():%Y%m%d-%H%M%S}")


def _launch(run_dir: Path, locks: list[int], note: str | None = None, **fields) -> int:
    """Start the trainer for this run in its own process session, handing it the locks the caller holds;
    returns the pid of the process to watch."""
    config = RunDir(run_dir).config()
    command, env = _command(run_dir, config)
    with RunDir(run_dir).log_file.open("ab") as log:
        log.write(f"\n=== {datetime.now():%Y-%m-%d %H:%M:%S} {' '.join(command)}\n".encode())
        if note:
            log.write(f"{note}\n".encode())
        log.flush()
        # start_new_session: the trainer outlives a closed tab or a restarted server, and Stop can signal the
        # whole process group (accelerate's launcher and every rank) at once. pass_fds: the trainer inherits the
        # run's and the devices' locks and holds them as long as it lives; the caller closes its own copies.
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, pass_fds=locks)
    update_status(run_dir, state=RunState.QUEUED, pid=proc.pid, devices=_devices(config), launched=time.time(),
                  ended=None, error=None, traceback=None, exit_code=None, **fields)
    # The launching process (a Streamlit server) lives on: reap the child when it ends, or it stays a zombie.
    threading.Thread(target=_reap, args=(proc, run_dir), name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def _reap(proc: subprocess.Popen, run_dir: Path) -> None:
    """Wait for the trainer; the launcher owns the run, so it is the one that records a trainer that died without
    a word as `crashed` (readers only derive it)."""
    code = proc.wait()  # 0 done or stopped, 1 failed, 3 out of memory, -9 killed
    _record_end(run_dir, proc.pid, exit_code=code)


def _record_end(run_dir: Path, pid: int, **fields) -> None:
    """Write how the trainer `pid` ended (`crashed` when it never said), unless the run has moved on: under the run
    lock, so a resume that has launched a new trainer meanwhile is never overwritten."""
    with ExitStack() as held:
        try:
            _lock_run(run_dir, held, patience_s=0)  # held by anyone else: the run has moved on
            current = read_status(run_dir)
            crashed = _crash_fields(current) if current.get("state") in LIVE else {}
            if current.get("pid") == pid and (fields or crashed):
                update_status(run_dir, **fields, **crashed)
        except (UserError, OSError):
            pass  # locked: a new trainer owns the run now; OSError: deleted meanwhile, or read-only


# ---- locks: one run, one trainer; one trainer per device ------------------------------------------------------

def try_lock(path: Path, patience_s: float = 0.0) -> int | None:
    """An exclusive flock on path (created if needed): the open descriptor, or None when another holds it for
    longer than patience_s. An OS lock rather than a pid file: it dies with its holder, so no stale lock ever needs
    clearing. flock has no timeout, hence the polling."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + patience_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.02)
    except BaseException:
        os.close(fd)
        raise


def _lock_run(run_dir: Path, held: ExitStack, patience_s: float = LOCK_PATIENCE_S) -> int:
    fd = try_lock(RunDir(run_dir).lock_file, patience_s)
    if fd is None:
        raise UserError.coded("run_already_running", run=run_dir.name)
    held.callback(os.close, fd)
    return fd


def _lock_devices(workspace: Workspace, devices: list[str], held: ExitStack) -> list[int]:
    fds = []
    for device in devices:
        path = _device_lock(workspace, device)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = try_lock(path, LOCK_PATIENCE_S)
        if fd is None:
            holder = path.read_text(encoding="utf-8", errors="replace").strip()[:100] or "another run"
            raise UserError.coded("device_busy", device=device, run=holder)
        held.callback(os.close, fd)
        fds.append(fd)
    return fds


def _device_lock(workspace: Workspace, device: str) -> Path:
    return workspace.root / "locks" / f"{slug(device)}.lock"


def _name_holder(fds: list[int], run_id: str) -> None:
    """Write the holder's run id into its device locks: the message a second start shows names it."""
    for fd in fds:
        os.ftruncate(fd, 0)
        os.pwrite(fd, run_id.encode(), 0)


def workspace_of(run_dir: Path) -> Workspace:
    return Workspace.of_run(run_dir)


def _command(run_dir: Path, config: TrainConfig) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    worker = ["-m", "core.train.worker", str(run_dir)]
    gpus = _gpu_count()
    if config.device.startswith("cuda:") or (config.device == "auto" and gpus):
        env["CUDA_VISIBLE_DEVICES"] = _visible_gpu(config.device.partition(":")[2] or "0")
    processes = config.num_processes or (gpus if config.device == "all" else 1)
    if processes <= 1 and config.nodes <= 1:
        return [sys.executable, *worker], env
    # Several processes: accelerate's torchrun launcher (`--multi_gpu`), on GPUs and on the CPU alike, so that the
    # CPU test exercises the same path. accelerate 1.15's `--cpu` goes to its single-process launcher (several CPU
    # processes only through mpirun with a hostfile), so we do not pass it; the worker picks the CPU and the gloo
    # backend itself (TrainingArguments use_cpu / ddp_backend) when no GPU is visible or the device is "cpu".
    if config.device == "cpu" or not gpus:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))  # no oversubscription
        env["CUDA_VISIBLE_DEVICES"] = ""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", "0"]  # 0 = a free port: two runs on different devices do not collide
    return [*launcher, *_nodes(config, processes), *worker], env


def _nodes(config: TrainConfig, processes: int) -> list[str]:
    """Several machines: accelerate's multi-node options, which replace the one-machine ones above (argparse keeps
    the last). Every machine runs the same command with its own --machine_rank; --num_processes counts them all."""
    if config.nodes <= 1:
        return []
    return ["--num_processes", str(processes * config.nodes), "--num_machines", str(config.nodes),
            "--machine_rank", str(config.node_rank), "--main_process_ip", config.main_process_ip,
            "--main_process_port", str(config.main_process_port)]


def _gpu_count() -> int:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    import torch  # here, not at the top: only launching needs it

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _visible_gpu(index: str) -> str:
    """cuda:N counts the GPUs this process sees: map N through an inherited CUDA_VISIBLE_DEVICES."""
    inherited = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return inherited[int(index)] if inherited and int(index) < len(inherited) else index


def _devices(config: TrainConfig) -> list[str]:
    """What the run occupies, for the one-run-per-device rule."""
    gpus = _gpu_count()
    if config.device == "cpu" or not gpus or config.device.startswith("mps"):
        return ["cpu"]
    if config.device == "all":
        return [f"cuda:{i}" for i in range(gpus)]
    return ["cuda:0" if config.device == "auto" else config.device]


def preflight(workspace: Workspace, config: TrainConfig) -> None:
    """Everything that can be known before a run exists, so a bad option is an error now, not a failed run later:
    the options, the dataset, the model (a hub model must be cached or reachable), its context, the device."""
    require_valid(config)  # the cheap checks first: no model is read for a config that cannot run anyway
    if config.method in PREFERENCE_METHODS:
        # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
        from core.train.preference_data import load as load_pairs

        load_pairs(workspace, config)  # pairs there, and written by a model that tokenizes as this one
    else:
        datasets.resolve(workspace, config.dataset)
    source = models.resolve(config.model, workspace)
    if source.is_hub:
        models.ensure_available(source)
    # These read the model's config.json (and build a LoRA's model on the meta device)

    arch = model_architecture(config.model, workspace)
    modules = module_names(config.model, workspace) if config.method in LORA_METHODS and config.lora_target_modules else None
    require_valid(config, model_context=arch.n_positions if arch else None, gpus=_gpu_count(),
                  modules=modules)


def start(workspace: Workspace, config: TrainConfig, name: str | None = None) -> Path:
    """Validate, refuse a second run on a busy device, create the run and launch it."""
    if name is not None:
        check_name(name)  # before anything else: a bad name is refused, never rewritten, and nothing is made
    preflight(workspace, config)
    wanted = _devices(config)
    for run in list_runs(workspace):  # a live run started before device locks existed holds none
        if run["alive"] and set(wanted) & set(run.get("devices") or []):
            busy = sorted(set(wanted) & set(run["devices"]))[0]
            raise UserError.coded("device_busy", device=busy, run=run['id'])
    try:
        with ExitStack() as held:
            # The device locks are the real rule (two tabs clicking Start at once both pass the check above); taken
            # before the run folder exists, so a refused start leaves nothing behind.
            device_locks = _lock_devices(workspace, wanted, held)
            run_dir = create(workspace, config, name).resolve()
            try:
                _name_holder(device_locks, run_dir.name)
                _launch(run_dir, [_lock_run(run_dir, held), *device_locks])
            except OSError:
                shutil.rmtree(run_dir, ignore_errors=True)  # a run that cannot start leaves nothing behind
                raise
    except OSError as exc:  # a full or read-only disk
        raise UserError.coded("run_start_failed", reason=exc.strerror or exc) from exc
    return run_dir


# ---- watching -----------------------------------------------------------------------------------------------

def status(run_dir: Path) -> dict:
    """status.json, with the state as it really is, derived without writing anything: a live state whose process
    is gone reads as `crashed`, a file that cannot be read as `unreadable` (the reason in `error`)."""
    run_dir = Path(run_dir)
    for _ in range(2):
        current, problem = RunDir(run_dir).load_status()
        if problem:
            return {"state": RunState.UNREADABLE, "error": problem, "alive": False}
        pid = current.get("pid")
        alive = bool(pid) and _alive(pid, run_dir)
        # The trainer writes its last status, then exits: one that did both between the read and the check above
        # has ended as the file now says, so a live state with no process is read again before it means crashed.
        if alive or not pid or RunState(current["state"]) not in LIVE:
            break
    current = {**current, "state": RunState(current["state"])}
    if current["state"] in LIVE and pid and not alive:
        current = {**current, **_crash_fields(current)}
    return {**current, "alive": alive}


def _crash_fields(current: dict) -> dict:
    # `updated` is the trainer's last word: about when it died (a reader's clock would make the duration grow)
    return {"state": RunState.CRASHED, "ended": current.get("ended") or current.get("updated"),
            "error": current.get("error") or "the trainer process ended without a word: see train.log"}


def ended(current: dict) -> bool:
    """Nothing more will happen to this run until someone acts: a final state, or unreadable with no process."""
    return current.get("state") in FINAL or (current.get("state") == RunState.UNREADABLE and not current.get("alive"))


def _alive(pid: int, run_dir: Path) -> bool:
    """The process exists, is not a zombie, and is this run's trainer (not a stranger that got the pid later)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: /proc decides
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return sys.platform != "linux"  # elsewhere os.kill is all we have
    try:
        if re.search(r"^State:\s*Z", (proc / "status").read_text(), re.M):
            return False
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return str(Path(run_dir).resolve()) in cmdline


def wait(run_dir: Path, poll_s: float = 1.0, timeout: float | None = None) -> dict:
    """Block until the run's state is final and its process has exited (so it can be resumed or deleted at once);
    returns its status. TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout if timeout else math.inf
    final_since = None
    while True:
        current = status(run_dir)
        if ended(current):
            final_since = final_since or time.monotonic()
            # the trainer writes its last status, then exits; one that lingers past EXIT_GRACE_S is left to itself
            if not current["alive"] or time.monotonic() - final_since > EXIT_GRACE_S:
                return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {Path(run_dir).name} still {current.get('state')} after {timeout} s")
        time.sleep(poll_s)


def list_runs(workspace: Workspace) -> list[dict]:
    """Every run, newest first, with its derived state and what the runs table shows."""
    out = []
    for run_dir in workspace.runs():
        current = status(run_dir)
        try:
            config = RunDir(run_dir).config()
        except (OSError, ValueError, TypeError, AttributeError, RecursionError, UserError):
            config = None  # the table shows the run without its model and dataset
        started, ended = current.get("started"), current.get("ended")
        end = ended or (time.time() if current["alive"] else current.get("updated"))
        out.append({
            "id": run_dir.name, "path": str(run_dir), "state": current.get("state"), "alive": current["alive"],
            "model": config.model if config else None, "dataset": config.dataset if config else None,
            "best_eval_loss": current.get("best_eval_loss"), "best_bits_per_char": current.get("best_bits_per_char"),
            "step": current.get("step"),
            "max_steps": current.get("max_steps"), "started": started, "ended": ended,
            "duration_s": round(end - started, 1) if started and end else None, "devices": current.get("devices"),
            "error": current.get("error"),
        })
    return out


def load_metrics(run_dir: Path) -> Lines:
    return RunDir(run_dir).metrics()


def load_samples(run_dir: Path) -> Lines:
    """The checkpoint gallery as sample records (core.train.gallery)."""
    return gallery.read(run_dir)


def read_metrics(run_dir: Path) -> list[dict]:
    return load_metrics(run_dir).records


def read_samples(run_dir: Path) -> list[dict]:
    return load_samples(run_dir).records


def log_tail(run_dir: Path, lines: int = 40) -> str:
    return RunDir(run_dir).log_tail(lines)


def config_diff(a: Path, b: Path) -> list[tuple[str, object, object]]:
    """(option, value in a, value in b) for each option that differs; a and b are runs or config files."""
    def load(p: Path) -> dict:
        p = Path(p)
        if p.is_dir():
            return RunDir(p).config_dict()
        data, problem = read_json(p)
        if problem or not isinstance(data, dict):
            raise UserError.coded("compare_unreadable", name=p.name, problem=problem or f"{p.name} is not an object")
        return data

    left, right = load(a), load(b)
    return [(k, left.get(k), right.get(k)) for k in sorted(set(left) | set(right)) if left.get(k) != right.get(k)]


# ---- controlling --------------------------------------------------------------------------------------------

def stop(run_dir: Path) -> None:
    """Ask the trainer to save a checkpoint and end (SIGTERM); a second Stop after 30 s kills it."""
    current = status(run_dir)
    if not current["alive"]:
        if current["state"] == RunState.CRASHED:
            _record_end(run_dir, current.get("pid"))  # an explicit action may record what reading derived
        return
    pid = int(current["pid"])
    asked = current.get("stop_requested")
    kill = current.get("state") == RunState.STOPPING and asked and time.time() - asked > KILL_AFTER_S
    try:
        # The whole group: under accelerate every rank must see the signal, not only the launcher.
        os.killpg(os.getpgid(pid), signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        return
    # Signal first, then write: the trainer's own next status write already says "stopping".
    update_status(run_dir, state=RunState.STOPPING, stop_requested=asked if kill else time.time())


def resume(run_dir: Path, checkpoint: str | None = None) -> str:
    """Continue a run from a checkpoint (the latest complete one when None) in the same run directory: steps and
    curve go on. Returns what it did, in a sentence (which checkpoint, and any incomplete one it passed over)."""
    run_dir = Path(run_dir).resolve()
    with ExitStack() as held:
        run_lock = _lock_run(run_dir, held)  # first: nothing below may touch a run another resume is launching
        if status(run_dir)["alive"]:  # a trainer launched before run locks existed holds none
            raise UserError.coded("run_already_running", run=run_dir.name)
        path, skipped = _resume_point(run_dir, checkpoint)
        config = RunDir(run_dir).config()
        device_locks = _lock_devices(workspace_of(run_dir), _devices(config), held)
        note = f"resuming from {path.name}" + "".join(f"; {p.name} is incomplete ({why}), passed over"
                                                      for p, why in skipped)
        config.resume_from = str(path.resolve())
        RunDir(run_dir).write_config(config)
        _name_holder(device_locks, run_dir.name)
        _launch(run_dir, [run_lock, *device_locks], note, resumed_from=path.name,
                skipped_checkpoints=[p.name for p, _ in skipped])
    return note


def _resume_point(run_dir: Path, checkpoint: str | None) -> tuple[Path, list[tuple[Path, str]]]:
    """The checkpoint to resume from, and the incomplete ones newer than it (passed over, with why)."""
    complete = complete_checkpoints(run_dir)
    if checkpoint:
        path = Path(checkpoint) if Path(checkpoint).is_absolute() else run_dir / checkpoint
        problem = checkpoint_problem(path) if path.is_dir() else "no such folder"
        if problem:
            raise UserError.coded("checkpoint_incomplete", checkpoint=path.name, run=run_dir.name, problem=problem,
                                  complete=", ".join(p.name for p in complete) or "-")
        return path, []
    if not complete:
        raise UserError.coded("no_checkpoint_to_resume", run=run_dir.name)
    newest = complete[-1]
    return newest, [(p, why) for p, why in incomplete_checkpoints(run_dir)
                    if checkpoint_step(p) > checkpoint_step(newest)]


def retry_after_oom(workspace: Workspace, run_dir: Path) -> Path:
    """A new run with half the batch and twice the accumulation: the same effective batch in less memory."""
    config = RunDir(run_dir).config().halved_for_oom()
    return start(workspace, config, name=f"{Path(run_dir).name}-retry")


def delete(run_dir: Path) -> None:
    run_dir = Path(run_dir)
    with ExitStack() as held:
        try:
            _lock_run(run_dir, held)  # held while deleting: a resume cannot start halfway through
        except UserError:
            raise UserError.coded("run_still_training", run=run_dir.name) from None
        if status(run_dir)["alive"]:
            raise UserError.coded("run_still_training", run=run_dir.name)
        shutil.rmtree(run_dir)


# ---- the queue's launch path (issue 14) ----------------------------------------------------------------------

def launch_queued(run_dir: Path) -> bool:
    """Launch a run that waits in the queue if its run and its devices are free right now, taking the same locks as
    `start` (no patience: the scheduler asks again soon); False when any of them is busy."""
    run_dir = Path(run_dir).resolve()
    with ExitStack() as held:
        try:
            run_lock = _lock_run(run_dir, held, patience_s=0)
            config = RunDir(run_dir).config()
            device_locks = _lock_devices_now(workspace_of(run_dir), _devices(config), held)
        except UserError:
            return False
        if device_locks is None or status(run_dir)["alive"]:
            return False
        _name_holder(device_locks, run_dir.name)
        _launch(run_dir, [run_lock, *device_locks], "started from the queue")
    return True


def _lock_devices_now(workspace: Workspace, devices: list[str], held: ExitStack) -> list[int] | None:
    fds = []
    for device in devices:
        path = _device_lock(workspace, device)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = try_lock(path, 0)
        if fd is None:
            return None
        held.callback(os.close, fd)
        fds.append(fd)
    return fds


def devices_of(config: TrainConfig) -> list[str]:
    """What a run with this configuration occupies (the queue waits for these)."""
    return _devices(config)


def device_busy(workspace: Workspace, config: TrainConfig) -> bool:
    """Some device this configuration needs is held by a trainer now (the page then offers to queue)."""
    with ExitStack() as held:
        return _lock_devices_now(workspace, _devices(config), held) is None
