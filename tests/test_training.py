"""Real training runs of the starter on a slice of Tiny Shakespeare, in subprocesses, the way the page starts them:
the loss falls and the model improves, Stop then Resume continues the curve, SIGKILL reads as crashed, failures
and out-of-memory end with a status, and two-process CPU DDP (gloo) completes."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from core.data import dataset
from core.errors import UserError
from core.train import gallery, runs
from core.train.config import TrainConfig
from core.train.state import FINAL, LIVE
from core.workspace import Workspace
from tests.conftest import SHARED, poll, require

pytestmark = pytest.mark.slow  # end to end: real processes and models

CORPUS = SHARED / "data" / "tinyshakespeare.txt"
WAIT_S = 240  # subprocesses on a busy two-core machine: generous, but a hang still fails
FAST = dict(dataset="shakespeare", model="starter", block_size=64, batch_size=8, max_steps=40, eval_steps=10,
            logging_steps=5, learning_rate=2e-3, device="cpu", gallery_prompts=["ROMEO:", "To be"],
            gallery_max_new_tokens=16)


@pytest.fixture(scope="module")
def ws(tmp_path_factory, starter_dir):
    """One workspace for the module: the starter and a ~150 KB Shakespeare dataset of 40-line documents."""
    require(CORPUS.exists(), f"the Tiny Shakespeare corpus is missing: {CORPUS}")
    root = tmp_path_factory.mktemp("training") / "workspace"
    shutil.copytree(starter_dir, root / "models" / "starter")
    lines = CORPUS.read_text(encoding="utf-8")[:150_000].splitlines()
    documents = ["\n".join(lines[i:i + 40]) for i in range(0, len(lines), 40)]
    dataset.save(root / "datasets" / "shakespeare", documents, recipe={}, report={})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUILL_HOME", str(root))
        # One thread per trainer: on a shared two-core machine, two-thread OpenMP regions that lose a core to
        # another process spin at their barriers and run 10-30x slower; one thread runs a steady ~2,500 tokens/s.
        mp.setenv("OMP_NUM_THREADS", "1")
        workspace = Workspace(root)
        yield workspace
        for run in runs.list_runs(workspace):  # a failed test must not leave a trainer behind
            if run["alive"]:
                _kill(Path(run["path"]))


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{**FAST, **changes})


def _kill(run_dir: Path) -> None:
    try:
        os.killpg(os.getpgid(int(runs.read_status(run_dir)["pid"])), signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_for_step(run_dir: Path, step: int) -> None:
    def reached():
        if runs.status(run_dir)["state"] in FINAL:
            raise AssertionError(f"run ended before step {step}: {runs.log_tail(run_dir)}")
        return any(m.get("step", 0) >= step for m in runs.read_metrics(run_dir))

    poll(reached, WAIT_S)


def _no_zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except OSError:
        return True  # gone: reaped


def _perplexity(model_dir: Path, blocks: list[list[int]]) -> float:
    """exp(mean loss per predicted token) over the blocks: every block predicts the same number of tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        losses = [model(input_ids=block, labels=block).loss for block in torch.tensor(blocks).split(1)]
    return math.exp(torch.stack(losses).mean().item())


def test_a_run_completes_and_improves_the_model(ws):
    run_dir = runs.start(ws, _config())
    status = runs.wait(run_dir, poll_s=0.5, timeout=WAIT_S)
    assert status["state"] == "completed", runs.log_tail(run_dir)
    assert status["step"] == status["max_steps"] == 40
    assert status["best_eval_loss"] is not None and status["final_eval_loss"] is not None

    metrics = runs.read_metrics(run_dir)
    losses = [m["loss"] for m in metrics if "loss" in m]
    first, last = losses[0], sum(losses[-3:]) / 3
    print(f"\ntrain loss {first:.3f} -> {last:.3f} (mean of last 3)")
    assert last < first - 1.0, losses
    assert all(m["tokens_per_s"] and m["tokens_per_s"] > 0 for m in metrics if "loss" in m)
    evals = [m for m in metrics if "eval_loss" in m]
    assert [m["step"] for m in evals] == [10, 20, 30, 40]
    assert all(m["perplexity"] == pytest.approx(math.exp(m["eval_loss"])) for m in evals)

    samples = runs.read_samples(run_dir)
    assert {gallery.step(s) for s in samples} == {0, 10, 20, 30, 40}
    assert {s.prompt for s in samples if gallery.step(s) == 0} == {"ROMEO:", "To be"}
    assert all(s.seed == 1234 and isinstance(s.text, str) for s in samples)

    from transformers import AutoTokenizer

    from core.data.chunking import pack, tokenize_documents

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "final")
    texts = dataset.read_texts(ws.datasets_dir / "shakespeare", "validation")
    blocks = pack(tokenize_documents(tokenizer, texts), 64, tokenizer.eos_token_id).blocks
    before, after = _perplexity(ws.starter_dir, blocks), _perplexity(run_dir / "final", blocks)
    print(f"validation perplexity: starter {before:.1f}, fine-tuned {after:.1f}")
    assert after < before / 5
    # the run's own number is the same perplexity: final/ is the model it evaluated, and its loss counts tokens right
    assert after == pytest.approx(math.exp(status["final_eval_loss"]), rel=1e-3)
    assert "completed at step 40" in runs.log_tail(run_dir)
    listed = {r["id"]: r for r in runs.list_runs(ws)}[run_dir.name]
    assert listed["state"] == "completed" and listed["duration_s"] > 0 and listed["model"] == "starter"


def test_b_stop_then_resume_continues_the_same_curve(ws):
    # A quarter of the batch and a third of the evaluations (each ~2 s): this run checks the curve across Stop and
    # Resume, not learning or evaluation (test_a does)
    run_dir = runs.start(ws, _config(max_steps=60, batch_size=2, eval_steps=20), name="stop-resume")
    _wait_for_step(run_dir, 10)
    # (f) one run per device: a second start on the CPU is refused while this one trains
    with pytest.raises(UserError, match=f"already training on cpu: {run_dir.name}"):
        runs.start(ws, _config(), name="second")
    assert not (ws.runs_dir / "second").exists()

    runs.stop(run_dir)
    status = runs.wait(run_dir, poll_s=0.3, timeout=WAIT_S)
    assert status["state"] == "stopped", runs.log_tail(run_dir)
    stopped_at = status["step"]
    assert 10 <= stopped_at < 60
    assert runs.complete_checkpoints(run_dir)[-1].name == f"checkpoint-{stopped_at}"

    runs.resume(run_dir)
    assert runs.status(run_dir)["state"] in LIVE
    status = runs.wait(run_dir, poll_s=0.5, timeout=WAIT_S)
    assert status["state"] == "completed", runs.log_tail(run_dir)
    assert status["step"] == status["max_steps"] == 60
    steps = [m["step"] for m in runs.read_metrics(run_dir) if "loss" in m]
    assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == 60, steps  # one curve, no restart at 0
    assert any(s > stopped_at for s in steps)
    assert f"resuming from checkpoint-{stopped_at}" in (run_dir / "train.log").read_text()


def test_c_sigkill_reads_as_crashed_and_leaves_no_zombie(ws):
    run_dir = runs.start(ws, _config(max_steps=400), name="killed")
    _wait_for_step(run_dir, 5)
    pid = int(runs.read_status(run_dir)["pid"])
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    status = poll(lambda: (s := runs.status(run_dir))["state"] == "crashed" and s, WAIT_S)
    assert status["alive"] is False
    # reading only derives it; the launcher (this process, through its reaper thread) records it for everyone else
    poll(lambda: runs.read_status(run_dir)["state"] == "crashed", 10)
    poll(lambda: _no_zombie(pid), 10)
    assert poll(lambda: runs.read_status(run_dir).get("exit_code"), 10) == -signal.SIGKILL


def test_d_failures_end_as_failed_or_oom_and_oom_retries_at_half_batch(ws, monkeypatch):
    monkeypatch.setenv("QUILL_FAULT", "error@5")
    failed = runs.start(ws, _config(), name="fails")
    status = runs.wait(failed, poll_s=0.3, timeout=WAIT_S)
    assert status["state"] == "failed"
    assert "injected failure at step 5" in status["error"] and "\n" not in status["error"]
    assert "Traceback" in status["traceback"]
    assert "injected failure at step 5" in runs.log_tail(failed)
    assert poll(lambda: runs.read_status(failed).get("exit_code") is not None, 10)
    assert runs.read_status(failed)["exit_code"] == 1

    monkeypatch.setenv("QUILL_FAULT", "oom@5")
    oom = runs.start(ws, _config(), name="oom")
    status = runs.wait(oom, poll_s=0.3, timeout=WAIT_S)
    assert status["state"] == "oom" and "out of memory" in status["error"]
    assert status["ended"] and not status["alive"]
    assert poll(lambda: runs.read_status(oom).get("exit_code") is not None, 10)
    assert runs.read_status(oom)["exit_code"] == 3

    monkeypatch.delenv("QUILL_FAULT")
    retry = runs.retry_after_oom(ws, oom)
    assert retry.name == "oom-retry"
    config = TrainConfig.load(retry / "config.json")
    assert (config.batch_size, config.grad_accum) == (4, 2)
    assert runs.config_diff(oom, retry) == [("batch_size", 8, 4), ("grad_accum", 1, 2)]
    _kill(retry)  # its launch is what mattered here
    assert runs.wait(retry, poll_s=0.2, timeout=30)["state"] in ("crashed", "failed")


def test_e_two_process_cpu_ddp_completes(ws):
    run_dir = runs.start(ws, _config(max_steps=10, eval_steps=5, num_processes=2), name="ddp")
    status = runs.wait(run_dir, poll_s=0.5, timeout=WAIT_S)
    log = (run_dir / "train.log").read_text()
    assert status["state"] == "completed", log[-3000:]
    assert "accelerate.commands.launch" in log and "2 process(es)" in log
    metrics = runs.read_metrics(run_dir)
    steps = [m["step"] for m in metrics if "loss" in m]
    assert steps == [1, 5, 10]  # rank 0 alone writes: a second writer would double every line
    assert [m["step"] for m in metrics if "eval_loss" in m] == [5, 10]
    assert metrics[-1]["epoch"] == pytest.approx(2 * 10 * 8 / status_blocks(run_dir), rel=0.05)
    assert (run_dir / "final" / "config.json").is_file()


def status_blocks(run_dir: Path) -> int:
    """Training blocks, as the worker's first line reports them ("... 887 training and 97 validation blocks")."""
    return int(re.search(r"(\d+) training and", (run_dir / "train.log").read_text()).group(1))


def test_runs_refuse_to_delete_a_live_run_and_resume_needs_a_checkpoint(ws):
    run_dir = runs.create(ws, _config(), name="never-launched")
    assert runs.status(run_dir)["state"] == "queued" and not runs.status(run_dir)["alive"]
    with pytest.raises(UserError, match="no complete checkpoint"):
        runs.resume(run_dir)
    runs.delete(run_dir)
    assert not run_dir.exists()
