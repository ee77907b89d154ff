"""`python -m core bench quality --data DATASET --minutes M`: quality per minute of the quick path.

Trains what the Train form does by default with a budget of M minutes (the starter: a model sized for the corpus
and the budget, a tokenizer fitted to it; core.train.sizing) on the dataset's training split, in a workspace of its
own, and reports held-out bits per character (and nats per character, nanoGPT's unit on character-level data),
characters per second inside training steps (`chars_per_s`, nanoGPT's `time` per iteration counts the same) and over
the whole budget with its evaluations and checkpoints (`chars_per_budget_s`), steps and the trainer's peak RSS.

DATASET is a dataset name in the workspace, a dataset directory, or a plain UTF-8 text file: a file is split as
nanoGPT's data/shakespeare_char/prepare.py splits it, its first 90% to train and its last 10% held out.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.data import dataset
from core.errors import UserError
from core.models.starter import build_starter
from core.train.config import TrainConfig
from core.train.run_dir import RunDir
from core.workspace import Workspace

TRAIN_SHARE = 0.9  # nanoGPT's split of a text file


def bench_quality(data: str, minutes: float) -> dict:
    # lazy: sqlalchemy, numpy take ~230 ms to import, and only this path needs them
    from core.data import tokens as token_files
    from core.train.runs import status

    if not minutes > 0:
        raise UserError(f"--minutes must be above 0 (got {minutes})")
    with tempfile.TemporaryDirectory(prefix="quill-bench-quality-") as tmp:
        workspace = Workspace(Path(tmp) / "workspace")
        _starter(build_starter, workspace)
        data_dir = _dataset(dataset, data, Path(tmp) / "data")
        config = TrainConfig(dataset=str(data_dir), model="starter", time_budget=f"{minutes:g}m",
                             gallery_prompts=["The ", "春"])
        run_dir = workspace.runs_dir / "quality"
        run_dir.mkdir(parents=True)
        RunDir(run_dir).write_config(config)
        peak_file = Path(tmp) / "peak"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "core.bench.peak", str(peak_file), "-m", "core.train.worker",
                               str(run_dir)], env={**os.environ, "QUILL_HOME": str(workspace.root)},
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        final = status(run_dir)
        if done.returncode != 0 or final.get("final_bits_per_char") is None:
            raise UserError(f"the training run failed: {(done.stderr or done.stdout).strip()[-500:]}")
        files = next((token_files.read(p) for p in (data_dir / "tokens").iterdir() if token_files.read(p)), None)
        train_chars = sum(map(len, dataset.read_texts(data_dir, "data")))
        chars_per_token = train_chars / max(1, files.meta["tokens"]["data"]) if files else None
        # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
        from core.train.runs import read_metrics

        # characters/s inside training steps (the metrics lines' own rate), and over the budget with everything in it
        rates = [m["tokens_per_s"] for m in read_metrics(run_dir) if m.get("tokens_per_s")]
        step_rate = sum(rates) / len(rates) if rates else None
        block = json.loads((RunDir(run_dir).final_dir / "config.json").read_text(encoding="utf-8"))["n_positions"]
        tokens_seen = final["step"] * config.batch_size * config.grad_accum * block
        bits = final["final_bits_per_char"]
        return {
            "data": data, "minutes": minutes, "bits_per_char": round(bits, 4),
            "nats_per_char": round(bits * math.log(2), 4), "steps": final["step"],
            "tokens_seen": tokens_seen, "chars_seen": round(tokens_seen * chars_per_token) if chars_per_token else None,
            "chars_per_s": round(step_rate * chars_per_token) if chars_per_token and step_rate else None,
            "chars_per_budget_s": round(tokens_seen * chars_per_token / (minutes * 60)) if chars_per_token else None,
            "model_size": final.get("model_size"), "wall_s": round(wall, 1),
            "peak_rss_mb": round(int(peak_file.read_text()) / 2**20) if peak_file.is_file() else None,
            "load_average": os.getloadavg()[0],
        }


def _starter(build_starter, workspace: Workspace) -> None:
    """The user's starter when it is built (its files are only read), else one built here."""
    mine = Workspace.from_env().starter_dir
    if (mine / "config.json").is_file():
        shutil.copytree(mine, workspace.starter_dir)
    else:
        build_starter(workspace.starter_dir)


def _dataset(dataset, data: str, out: Path) -> Path:
    path = Path(data).expanduser()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {path} as UTF-8 text: {exc}") from exc
        cut = int(len(text) * TRAIN_SHARE)
        out.mkdir(parents=True)
        for part, piece in (("data", text[:cut]), ("validation", text[cut:])):
            (out / f"{part}.jsonl").write_text(json.dumps({"text": piece}, ensure_ascii=False) + "\n", encoding="utf-8")
        return out
    return dataset.resolve(Workspace.from_env(), data)  # a dataset name or directory (UserError when none)
