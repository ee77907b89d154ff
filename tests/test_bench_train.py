"""`python -m core bench train --json`: our trainer against a plain Trainer, MFU, packed vs padded blocks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, core_env

KEYS = {"ours_tokens_per_s", "baseline_tokens_per_s", "ratio", "mfu", "packed_useful_fraction",
        "padded_useful_fraction", "poetry_corpus", "block_size", "device", "parameters", "steps", "batch_size"}


def test_bench_train_json(workspace):
    # A tiny setting: a few short steps, so it stays well under 90 s on two cores.
    result = subprocess.run(
        [sys.executable, "-m", "core", "bench", "train", "--json", "--steps", "2", "--batch-size", "2",
         "--block-size", "64", "--compile", "off"],
        cwd=ROOT, env=core_env(QUILL_HOME=str(workspace.root), HF_HUB_OFFLINE="1"),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout  # one JSON object and nothing else on stdout
    figures = json.loads(lines[0])
    assert KEYS <= set(figures)
    assert figures["steps"] == 2 and figures["batch_size"] == 2 and figures["block_size"] == 64
    import torch

    assert figures["device"].startswith("cuda" if torch.cuda.is_available() else "cpu")  # where it really ran
    assert figures["parameters"] > 1_000_000
    assert figures["ours_tokens_per_s"] > 0 and figures["baseline_tokens_per_s"] > 0
    assert figures["ratio"] == pytest.approx(figures["ours_tokens_per_s"] / figures["baseline_tokens_per_s"], rel=1e-2)
    assert 0 < figures["mfu"] < 1
    assert figures["speed"].startswith("compile off, adamw_torch_fused")  # the options the trainer ran with
    if not torch.cuda.is_available():
        assert figures["ours_peak_gpu_gb"] is None
    assert figures["packed_useful_fraction"] == pytest.approx(1.0, abs=1e-4)
    assert figures["packed_useful_fraction"] > figures["padded_useful_fraction"] > 0
    assert figures["poetry_corpus"] in ("宋词三百首.json", "sample corpus")


def test_steady_state_skips_warmup_and_evaluations(tmp_path):
    from core.bench.train import _steady_tokens_per_s

    lines = [
        {"step": 1, "loss": 9.0, "tokens_per_s": 10.0, "time": 100.0},  # warm-up: slow, left out
        {"step": 5, "loss": 8.0, "tokens_per_s": 900.0, "time": 150.0},
        {"step": 10, "loss": 7.0, "tokens_per_s": 1100.0, "time": 155.0},
        {"step": 10, "eval_loss": 7.5, "perplexity": 1800.0, "time": 170.0},  # after the last step: not counted
        {"step": 15, "loss": 6.0, "tokens_per_s": 1000.0, "time": 160.0},
    ]
    # 10 steps of 1024 tokens between t=150 and t=160
    assert _steady_tokens_per_s(lines, 5, 1024, tmp_path) == pytest.approx(1024.0)
    # without times: the mean of the lines' own rates after the first steady line
    untimed = [{k: v for k, v in line.items() if k != "time"} for line in lines]
    assert _steady_tokens_per_s(untimed, 5, 1024, tmp_path) == pytest.approx(1050.0)


def test_useful_fractions_on_the_sample_corpus(starter_dir, monkeypatch):
    from core.bench import train as bench_train

    monkeypatch.setattr(bench_train, "POETRY", starter_dir / "no-such-file.json")
    fractions = bench_train._useful_fractions(starter_dir, 128)
    assert fractions["poetry_corpus"] == "sample corpus"
    assert fractions["packed_useful_fraction"] == 1.0 > fractions["padded_useful_fraction"]


def test_the_benchmark_chooses_precision_as_the_trainer_does():
    # One rule (core.hardware.choose_precision): the benchmark refuses fp16 on the CPU with the trainer's words.
    import torch

    from core.bench.train import bench_train
    from core.errors import UserError
    from core.hardware import choose_precision

    assert choose_precision("auto", use_cpu=True) == "fp32"
    if torch.cuda.is_available():
        pytest.skip("fp16 is allowed where a GPU is visible")
    with pytest.raises(UserError, match="^fp16 needs a CUDA GPU: use bf16 or fp32 on the CPU$"):
        bench_train(precision="fp16")
