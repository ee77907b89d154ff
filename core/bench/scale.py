"""`python -m core bench scale`: how memory and speed grow with the corpus, on generated corpora of a few sizes.

Per size: loading the corpus (mixed English and Chinese) as one text file and as JSONL, each in a fresh process
(`core.bench.load`: peak RSS per file byte, MB/s); tokenizing it to the dataset's token file (MB of text per
second); the trainer's peak RSS over 5 steps (a fresh `core.train.worker` process on the starter); and building the
memorization index (its speed and bytes per token). A child's peak RSS is its own VmHWM, read inside it by
`core.bench.peak` (os.wait4's ru_maxrss would carry this process's size across fork and exec). Speeds are given
per wall second and per CPU second of this process: on a shared machine the second is the steadier figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core import models
from core.bench import load
from core.bench.clean import generated_corpus
from core.models.starter import build_starter
from core.train.config import TrainConfig
from core.train.run_dir import RunDir
from core.train.state import RunState
from core.workspace import Workspace

SIZES_MB = (5, 50, 200)
TRAIN_STEPS = 5
VALIDATION_RATIO = 0.001  # a validation split of a few hundred KB: the 5 steps, not evaluating it, are measured


def bench_scale(sizes_mb=SIZES_MB, workspace=None) -> dict:
    workspace = workspace or Workspace.from_env()
    rows = []
    with tempfile.TemporaryDirectory(prefix="quill-bench-scale-") as tmp:
        root = Path(tmp)
        _link_starter(workspace, root)
        for size in sizes_mb:
            rows.append(_one_size(root, size))
    first, last = rows[0]["trainer_peak_rss_mb"], rows[-1]["trainer_peak_rss_mb"]
    return {"sizes": rows, "rss_growth": round(last / first, 3) if len(rows) > 1 and first else None,
            "rss_growth_between": [rows[0]["corpus_mb"], rows[-1]["corpus_mb"]] if len(rows) > 1 else None,
            "cpus": os.cpu_count()}


def _link_starter(workspace, root: Path) -> None:
    target = root / "models" / "starter"
    target.parent.mkdir(parents=True)
    source = workspace.root / "models" / "starter"
    if (source / "config.json").is_file():
        target.symlink_to(source.resolve())
    else:
        build_starter(target)


def _one_size(root: Path, size_mb: float) -> dict:
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data import dataset, tokens

    docs = generated_corpus(size_mb)
    corpus_bytes = sum(len(d.encode("utf-8")) for d in docs)
    loaded = _load_figures(root, docs)

    name = f"scale-{size_mb}"
    data_dir = root / "datasets" / name
    dataset.save(data_dir, docs, recipe={}, report={}, ratio=VALIDATION_RATIO)
    del docs
    tokenizer = models.load_tokenizer("starter", Workspace(root))
    started, cpu = time.perf_counter(), time.process_time()  # process time counts the tokenizer's threads too
    files = tokens.ensure(data_dir, tokenizer)
    tokenize_s, tokenize_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    token_count = sum(files.meta["tokens"].values())

    trainer_rss = _trainer_peak_rss_mb(root, name)
    index = _index(data_dir, token_count)
    return {"corpus_mb": round(corpus_bytes / 1e6, 1), **loaded,
            "tokenize_mb_per_s": round(corpus_bytes / 1e6 / tokenize_s, 2),
            "tokenize_mb_per_cpu_s": round(corpus_bytes / 1e6 / tokenize_cpu_s, 2), "tokens": token_count,
            "token_file_bytes_per_token": np.dtype(files.meta["dtype"]).itemsize,
            "trainer_peak_rss_mb": round(trainer_rss, 1), **index}


def _load_figures(root: Path, docs: list[str]) -> dict:
    """Loading the corpus as a text file (paragraphs, as the Data page and `clean` cut it) and as JSONL, each in a
    fresh interpreter: peak RSS, and its growth over an interpreter that only imports the loader per file byte."""
    base = load.peak_rss_bytes(["-c", load.LOAD_NOTHING])[0]
    text_file, jsonl_file = root / "corpus.txt", root / "corpus.jsonl"
    with text_file.open("w", encoding="utf-8") as f:
        f.write("\n\n".join(docs))
    text = load.measure(text_file, base)
    text_file.unlink()
    with jsonl_file.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": doc}, ensure_ascii=False) + "\n" for doc in docs)
    jsonl = load.measure(jsonl_file, base)
    jsonl_file.unlink()
    return {"load_peak_rss_mb": text["load_peak_rss_mb"], "load_rss_per_corpus_byte": text["load_rss_per_corpus_byte"],
            "load_mb_per_s": text["load_mb_per_s"], "load_jsonl_rss_per_corpus_byte": jsonl["load_rss_per_corpus_byte"],
            "load_jsonl_mb_per_s": jsonl["load_mb_per_s"]}


def _trainer_peak_rss_mb(root: Path, dataset_name: str) -> float:
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.train import runs

    config = TrainConfig(dataset=dataset_name, model="starter", block_size=128, batch_size=8, max_steps=TRAIN_STEPS,
                         eval_steps=TRAIN_STEPS, logging_steps=1, device="cpu", gallery_prompts=[])
    run_dir = runs.create(Workspace(root), config, name=f"bench-{dataset_name}")
    run = RunDir(run_dir)
    peak = _peak_rss_mb(["-m", "core.train.worker", str(run_dir)], log=run.log_file)
    state = run.read_status().get("state")
    if state != RunState.COMPLETED:
        raise RuntimeError(f"the bench's training run ended {state}: {run.log_tail(30)}")
    return peak


def _peak_rss_mb(command: list[str], log: Path | None = None) -> float:
    """Run `python -m core.bench.peak FILE <command>` to its end; the peak resident memory in MB it wrote to FILE."""
    with tempfile.TemporaryDirectory(prefix="quill-peak-") as tmp:
        report = Path(tmp) / "peak"
        out = log.open("ab") if log else subprocess.DEVNULL
        try:
            returncode = subprocess.run([sys.executable, "-m", "core.bench.peak", str(report), *command], stdout=out,
                                        stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
        finally:
            if log:
                out.close()
        if returncode != 0 or not report.is_file():
            raise RuntimeError(f"{' '.join(command[:2])} failed with exit code {returncode}")
        return int(report.read_text(encoding="ascii")) / 1e6


def _index(data_dir: Path, token_count: int) -> dict:
    """The memorization index (core.evaluation.memorization) on this corpus: build speed, and its size on disk per
    token of the starter tokenizer, per wall and per CPU second."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.evaluation import memorization

    started, cpu = time.perf_counter(), time.process_time()
    folder = memorization.build(data_dir)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    corpus_mb = (data_dir / "data.jsonl").stat().st_size / 1e6
    index_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"index_mb_per_s": round(corpus_mb / seconds, 2) if seconds else None,
            "index_mb_per_cpu_s": round(corpus_mb / cpu_seconds, 2) if cpu_seconds else None,
            "index_bytes_per_token": round(index_bytes / token_count, 2) if token_count else None}
