"""Runs in the workspace: create, launch, watch, stop, resume and delete them, all through files.

A run is `workspace/runs/<id>/`. The trainer (`core.train.worker`) runs in its own process session and keeps
`status.json` current; everything here only reads that file and the others, plus one liveness check on the
process, so the page, the command line and a restarted Streamlit server all see the same run.

Light on purpose: no torch import at module level (the page imports this on every rerun).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from core import dataset as datasets
from core import models
from core.errors import UserError
from core.train.config import TrainConfig, require_valid
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent.parent  # repository root: `-m core.train.worker` imports from here
LIVE_STATES = ("queued", "running", "stopping")
FINAL_STATES = ("completed", "stopped", "failed", "oom", "crashed")
EXIT_GRACE_S = 30  # how long `wait` lets a run that reported its end take to exit
KILL_AFTER_S = 30  # a second Stop after this long sends SIGKILL: the trainer had its chance to save
_ID = re.compile(r"[^\w.-]+")


# ---- status.json --------------------------------------------------------------------------------------------

def read_status(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def update_status(run_dir: Path, **changes) -> dict:
    """Merge changes into status.json atomically: a reader sees the old file or the new one, never half of one."""
    run_dir = Path(run_dir)
    status = {**read_status(run_dir), **changes, "updated": time.time()}
    _write_json_atomic(run_dir / "status.json", status)
    return status


def _write_json_atomic(path: Path, data) -> None:
    # A unique temp name in the same directory: the trainer and a `stop` may write at once, and os.replace is
    # atomic only within one file system.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- creating and launching ---------------------------------------------------------------------------------

def create(workspace: Workspace, config: TrainConfig, name: str | None = None) -> Path:
    """A new run directory with its config.json and a `queued` status.json."""
    base = _ID.sub("-", name.strip()).strip("-.") if name else _default_id(config)
    if not base:
        raise UserError(f"'{name}' is not a usable run name: use letters, digits, '-', '_' or '.'")
    workspace.runs_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        run_dir = workspace.runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            run_dir.mkdir()  # mkdir is the atomic claim on the name: two tabs starting at once get two runs
            break
        except FileExistsError:
            continue
    else:
        raise UserError(f"too many runs named '{base}': pick another name")
    (run_dir / "config.json").write_text(config.to_json(), encoding="utf-8")
    update_status(run_dir, state="queued", created=time.time())
    return run_dir


def _default_id(config: TrainConfig) -> str:
    model = Path(config.model.rstrip("/")).name or "model"
    data = Path(config.dataset.rstrip("/")).name or "data"
    return _ID.sub("-", f"{model}-{data}-{datetime.now():%Y%m%d-%H%M%S}").strip("-.")


def launch(run_dir: Path) -> int:
    """Start the trainer for this run in its own process session; returns the pid of the process to watch."""
    run_dir = Path(run_dir).resolve()
    config = TrainConfig.load(run_dir / "config.json")
    command, env = _command(run_dir, config)
    with (run_dir / "train.log").open("ab") as log:
        log.write(f"\n=== {datetime.now():%Y-%m-%d %H:%M:%S} {' '.join(command)}\n".encode())
        log.flush()
        # start_new_session: the trainer outlives a closed tab or a restarted server, and Stop can signal the
        # whole process group (accelerate's launcher and every rank) at once.
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    update_status(run_dir, state="queued", pid=proc.pid, devices=_devices(config), launched=time.time(),
                  ended=None, error=None, traceback=None, exit_code=None)
    # The launching process (a Streamlit server) lives on: reap the child when it ends, or it stays a zombie.
    threading.Thread(target=_reap, args=(proc, run_dir), name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def _reap(proc: subprocess.Popen, run_dir: Path) -> None:
    code = proc.wait()
    try:
        update_status(run_dir, exit_code=code)  # 0 done or stopped, 1 failed, 3 out of memory, -9 killed
    except OSError:
        pass  # the run was deleted meanwhile


def _command(run_dir: Path, config: TrainConfig) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    worker = ["-m", "core.train.worker", str(run_dir)]
    gpus = _gpu_count()
    if config.device.startswith("cuda:") or (config.device == "auto" and gpus):
        env["CUDA_VISIBLE_DEVICES"] = _visible_gpu(config.device.partition(":")[2] or "0")
    processes = config.num_processes or (gpus if config.device == "all" else 1)
    if processes <= 1:
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
    return [*launcher, *worker], env


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
    datasets.resolve(workspace, config.dataset)
    source = models.resolve(config.model, workspace)
    if source.is_hub:
        models.ensure_available(source)
    from core.train.memory import model_architecture  # reads the model's config.json: transformers, only here

    arch = model_architecture(config.model, workspace)
    require_valid(config, model_context=arch.n_positions if arch else None, gpus=_gpu_count())


def start(workspace: Workspace, config: TrainConfig, name: str | None = None) -> Path:
    """Validate, refuse a second run on a busy device, create the run and launch it."""
    preflight(workspace, config)
    wanted = set(_devices(config))
    for run in list_runs(workspace):
        if run["alive"] and wanted & set(run.get("devices") or []):
            busy = sorted(wanted & set(run["devices"]))[0]
            raise UserError(f"a run is already training on {busy}: {run['id']}; stop it or pick another device")
    run_dir = create(workspace, config, name)
    launch(run_dir)
    return run_dir


# ---- watching -----------------------------------------------------------------------------------------------

def status(run_dir: Path) -> dict:
    """status.json, with the state as it really is: a live state whose process is gone becomes `crashed`."""
    run_dir = Path(run_dir)
    current = read_status(run_dir) or {"state": "queued"}
    pid = current.get("pid")
    alive = bool(pid) and _alive(int(pid), run_dir)
    if current.get("state") in LIVE_STATES and pid and not alive:
        current = update_status(run_dir, state="crashed", ended=current.get("ended") or time.time(),
                                error=current.get("error") or "the trainer process ended without a word: see train.log")
    return {**current, "alive": alive}


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
        if current.get("state") in FINAL_STATES:
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
            config = TrainConfig.load(run_dir / "config.json")
        except (OSError, ValueError, UserError):
            config = None
        started, ended = current.get("started"), current.get("ended")
        end = ended or (time.time() if current["alive"] else current.get("updated"))
        out.append({
            "id": run_dir.name, "path": str(run_dir), "state": current.get("state"), "alive": current["alive"],
            "model": config.model if config else None, "dataset": config.dataset if config else None,
            "best_eval_loss": current.get("best_eval_loss"), "step": current.get("step"),
            "max_steps": current.get("max_steps"), "started": started, "ended": ended,
            "duration_s": round(end - started, 1) if started and end else None, "devices": current.get("devices"),
        })
    return out


def _read_jsonl(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # the line the trainer is writing right now
    return out


def read_metrics(run_dir: Path) -> list[dict]:
    return _read_jsonl(Path(run_dir) / "metrics.jsonl")


def read_samples(run_dir: Path) -> list[dict]:
    return _read_jsonl(Path(run_dir) / "samples.jsonl")


def log_tail(run_dir: Path, lines: int = 40) -> str:
    path = Path(run_dir) / "train.log"
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200 * lines - 4096))  # enough bytes for the last lines, not the whole log
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def checkpoints(run_dir: Path) -> list[Path]:
    """checkpoint-N directories, by step."""
    found = [p for p in Path(run_dir).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def config_diff(a: Path, b: Path) -> list[tuple[str, object, object]]:
    """(option, value in a, value in b) for each option that differs; a and b are runs or config files."""
    def load(p: Path) -> dict:
        p = Path(p)
        return json.loads((p / "config.json" if p.is_dir() else p).read_text(encoding="utf-8"))

    left, right = load(a), load(b)
    return [(k, left.get(k), right.get(k)) for k in sorted(set(left) | set(right)) if left.get(k) != right.get(k)]


# ---- controlling --------------------------------------------------------------------------------------------

def stop(run_dir: Path) -> None:
    """Ask the trainer to save a checkpoint and end (SIGTERM); a second Stop after 30 s kills it."""
    current = status(run_dir)
    if not current["alive"]:
        return
    pid = int(current["pid"])
    asked = current.get("stop_requested")
    kill = current.get("state") == "stopping" and asked and time.time() - asked > KILL_AFTER_S
    try:
        # The whole group: under accelerate every rank must see the signal, not only the launcher.
        os.killpg(os.getpgid(pid), signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        return
    # Signal first, then write: the trainer's own next status write already says "stopping".
    update_status(run_dir, state="stopping", stop_requested=asked if kill else time.time())


def resume(run_dir: Path, checkpoint: str | None = None) -> None:
    """Continue a run from a checkpoint (the latest when None) in the same run directory: steps and curve go on."""
    run_dir = Path(run_dir).resolve()
    if status(run_dir)["alive"]:
        raise UserError(f"run {run_dir.name} is still training: stop it before resuming")
    if checkpoint:
        path = Path(checkpoint) if Path(checkpoint).is_absolute() else run_dir / checkpoint
    else:
        found = checkpoints(run_dir)
        if not found:
            raise UserError(f"run {run_dir.name} has no checkpoint to resume from: start a new run")
        path = found[-1]
    if not (path / "trainer_state.json").is_file():
        raise UserError(f"{path} is not a checkpoint of this run: pick one of {[p.name for p in checkpoints(run_dir)]}")
    config = TrainConfig.load(run_dir / "config.json")
    config.resume_from = str(path.resolve())
    (run_dir / "config.json").write_text(config.to_json(), encoding="utf-8")
    launch(run_dir)


def retry_after_oom(workspace: Workspace, run_dir: Path) -> Path:
    """A new run with half the batch and twice the accumulation: the same effective batch in less memory."""
    config = TrainConfig.load(Path(run_dir) / "config.json").halved_for_oom()
    return start(workspace, config, name=f"{Path(run_dir).name}-retry")


def delete(run_dir: Path) -> None:
    run_dir = Path(run_dir)
    if status(run_dir)["alive"]:
        raise UserError(f"run {run_dir.name} is still training: stop it first")
    shutil.rmtree(run_dir)
