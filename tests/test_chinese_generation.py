"""The new user's path with Chinese verse, as subprocesses: clean 宋词三百首, fine-tune the starter for 120 steps on
the CPU, then `sample` a prompt of 明月 with streaming: the text is Chinese and holds no broken character."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.text import han_chars
from tests.conftest import ROOT, SHARED, core_env, require

pytestmark = pytest.mark.slow  # end to end: real processes and models

SONG_CI = SHARED / "data" / "zh-poetry" / "宋词三百首.json"
CONFIGS = [
    {"name": "greedy", "max_new_tokens": 48},
    {"name": "top-p 0.9", "do_sample": True, "top_p": 0.9, "max_new_tokens": 64, "num_samples": 3, "seed": 1},
    {"name": "hot", "do_sample": True, "temperature": 1.3, "max_new_tokens": 64, "num_samples": 4, "seed": 2},
]


def run_core(workspace, *args):
    # One thread: on a shared two-core machine, OpenMP threads that lose their core spin and run far slower.
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=core_env(QUILL_HOME=str(workspace.root), OMP_NUM_THREADS="1"))


def test_a_short_finetune_on_song_ci_writes_whole_characters(workspace, tmp_path):
    require(SONG_CI.exists(), f"the shared poetry corpus is missing: {SONG_CI}")
    cleaned = run_core(workspace, "clean", str(SONG_CI), "--text-field", "paragraphs",
                       "--out", str(workspace.datasets_dir / "song-ci"))
    assert cleaned.returncode == 0, cleaned.stderr
    trained = run_core(workspace, "train", "--data", "song-ci", "--model", "starter", "--max-steps", "120",
                       "--block-size", "32", "--batch-size", "4", "--eval-steps", "120", "--device", "cpu",
                       "--name", "song-ci")
    assert trained.returncode == 0 and "completed" in trained.stdout, trained.stdout + trained.stderr

    configs, out = tmp_path / "configs.json", tmp_path / "samples.jsonl"
    configs.write_text(json.dumps(CONFIGS), encoding="utf-8")
    sampled = run_core(workspace, "sample", "--model", "song-ci", "--prompt", "明月", "--configs", str(configs),
                       "--out", str(out), "--stream")
    assert sampled.returncode == 0, sampled.stderr
    samples = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(samples) == 8
    texts = [s["text"] for s in samples]
    assert not any("\ufffd" in text for text in texts), texts
    assert "\ufffd" not in sampled.stdout
    assert f"greedy: 明月{texts[0]}\n" in sampled.stdout  # streamed whole, then the summary
    # It learned to write verse: mostly Han characters, not bytes, Latin letters or nothing.
    written = "".join(texts)
    assert len(han_chars(written)) >= 0.5 * len("".join(written.split())) > 0, texts
