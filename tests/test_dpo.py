"""Preference tuning (issue 26) end to end on the CPU: 20 pairs from real votes in the lab database, `python -m core
train --method dpo --pairs ratings` as a user types it, stopped and resumed, then its curve, its export and its
model in the Playground; bad input is one clear line."""

from __future__ import annotations

import json
import shutil

import pytest

from core.errors import UserError
from core.ratings.store import open_store
from core.train import runs
from core.train.config import TrainConfig
from tests.conftest import poll, run_core

pytestmark = pytest.mark.slow  # end to end: real processes and models

RUN = "dpo-run"
STEPS = 12
WAIT_S = 300


def _vote_twenty(workspace) -> None:
    """20 blind votes, each a plain line of verse over a repeated character."""
    with open_store(workspace.db_url) as store:
        for i in range(20):
            good, bad = store.add_samples([
                {"model": "starter", "prompt": f"第{i}首", "text": "春眠不觉晓，处处闻啼鸟。", "seed": i},
                {"model": "starter", "prompt": f"第{i}首", "text": "鸟鸟鸟鸟鸟鸟鸟鸟鸟鸟", "seed": i}])
            store.vote(bad, good, "scripted", "b")


@pytest.fixture(scope="module")
def dpo(tmp_path_factory, starter_dir):
    """A workspace whose DPO run was started from the CLI, stopped after a few steps, resumed and completed."""
    from core.workspace import Workspace

    root = tmp_path_factory.mktemp("dpo") / "workspace"
    shutil.copytree(starter_dir, root / "models" / "starter")
    workspace = Workspace(root)
    _vote_twenty(workspace)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUILL_HOME", str(root))
        started = run_core(workspace, "train", "--method", "dpo", "--pairs", "ratings", "--model", "starter",
                           "--max-steps", STEPS, "--eval-steps", "4", "--logging-steps", "1", "--batch-size", "4",
                           "--learning-rate", "1e-4", "--device", "cpu", "--gallery-prompts", "第1首",
                           "--gallery-max-new-tokens", "4", "--name", RUN, "--detach")
        assert started.returncode == 0, started.stderr
        run_dir = workspace.runs_dir / RUN
        poll(lambda: (runs.status(run_dir).get("step") or 0) >= 2 or runs.ended(runs.status(run_dir)), WAIT_S)
        runs.stop(run_dir)
        stopped = runs.wait(run_dir, poll_s=0.3, timeout=WAIT_S)
        assert stopped["state"] == "stopped", runs.log_tail(run_dir)
        runs.resume(run_dir)
        status = runs.wait(run_dir, poll_s=0.5, timeout=WAIT_S)
        assert status["state"] == "completed", runs.log_tail(run_dir)
        yield workspace, run_dir, stopped["step"]


def test_the_run_learns_the_pairs_and_writes_one_curve_across_stop_and_resume(dpo):
    workspace, run_dir, stopped_at = dpo
    config = TrainConfig.load(run_dir / "config.json")
    pairs = [json.loads(line) for line in open(config.pairs, encoding="utf-8")]
    assert config.method == "dpo" and len(pairs) == 20 and {p["source"] for p in pairs} == {"vote"}
    assert config.pairs.startswith(str(workspace.root / "pairs"))  # the pairs it was tuned on, kept
    metrics = runs.read_metrics(run_dir)
    steps = [m["step"] for m in metrics if "loss" in m]
    assert steps == list(range(1, STEPS + 1)) and 2 <= stopped_at < STEPS  # one curve, no restart at 0
    assert f"resuming from checkpoint-{stopped_at}" in (run_dir / "train.log").read_text(encoding="utf-8")
    assert all("reward_margin" in m and "reward_accuracy" in m for m in metrics if "loss" in m)
    held = [m for m in metrics if "eval_loss" in m]
    assert [m["step"] for m in held] == [4, 8, 12] and all("eval_reward_accuracy" in m for m in held)
    assert held[-1]["eval_reward_margin"] > 0 and held[-1]["eval_loss"] < 0.6931  # log 2: where DPO starts
    status = runs.status(run_dir)
    assert (status["preference_pairs"], status["held_out_pairs"]) == (18, 2)
    assert status["final_reward_accuracy"] == 1.0


def test_the_tuned_model_exports_and_loads_in_the_playground(dpo, tmp_path):
    from transformers import AutoModelForCausalLM

    from core import models
    from core.publish import export

    workspace, run_dir, _ = dpo
    out = export.export(RUN, tmp_path / "exported", workspace=workspace, perplexity=False)
    assert AutoModelForCausalLM.from_pretrained(out.out).config.model_type == "gpt2"
    tokenizer, model = models.load(RUN, workspace)  # what the Playground, Write and Ratings load a run through
    inputs = tokenizer("第1首", return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 4


def test_missing_or_empty_pairs_are_one_clear_line(workspace, tmp_path):
    done = run_core(workspace, "train", "--method", "dpo", "--model", "starter", "--device", "cpu")
    assert done.returncode != 0 and done.stderr.strip().splitlines() == [
        done.stderr.strip()] and done.stderr.startswith("error: preference tuning needs pairs")
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    done = run_core(workspace, "train", "--method", "dpo", "--pairs", tmp_path / "empty.jsonl", "--model", "starter")
    assert done.returncode != 0 and done.stderr.strip() == f"error: {tmp_path / 'empty.jsonl'} holds no pairs: vote " \
        "on A/B pairs or score samples on the Ratings page first"
    done = run_core(workspace, "train", "--method", "dpo", "--pairs", "ratings", "--model", "starter")
    assert done.returncode != 0 and done.stderr.startswith("error: the ratings give no preference pairs yet")
    assert not workspace.runs_dir.exists() or not list(workspace.runs_dir.iterdir())  # nothing started


def test_pairs_from_another_tokenizers_model_are_refused(workspace, tmp_path):
    from transformers import AutoTokenizer

    from core.ratings import pairs

    other = tmp_path / "other-model"
    shutil.copytree(workspace.starter_dir, other)
    tokenizer = AutoTokenizer.from_pretrained(other)
    tokenizer.add_tokens(["<verse>"])  # another vocabulary: another tokenizer
    tokenizer.save_pretrained(other)
    path = tmp_path / "pairs.jsonl"
    pairs.write([pairs.Pair(prompt="p", chosen="a", rejected="b", source="vote", rater="x", chosen_model=str(other),
                            rejected_model=str(other))] * 2, path)
    config = TrainConfig(method="dpo", pairs=str(path), model="starter", device="cpu")
    with pytest.raises(UserError, match=f"samples of {other}, whose tokenizer differs from starter's"):
        runs.preflight(workspace, config)
    runs.preflight(workspace, TrainConfig(method="dpo", pairs=str(path), model=str(other), device="cpu"))  # its own


@pytest.mark.parametrize("changes, code", [
    (dict(method="dpo"), "no_pairs"),
    (dict(method="dpo_lora", pairs="p.jsonl", dpo_beta=0.0), "too_small"),  # the limits the fields declare
    (dict(method="dpo_lora", pairs="p.jsonl", lora_r=0), "too_small"),
])
def test_config_checks_the_preference_options(changes, code):
    from core.train.config import check

    assert [p.code for p in check(TrainConfig(**changes))] == [code]


def test_train_page_offers_the_ratings_as_pairs_and_charts_the_preferences(dpo, monkeypatch):
    from tests.test_pages import open_page

    workspace, run_dir, _ = dpo
    monkeypatch.setenv("QUILL_HOME", str(workspace.root))
    at = open_page("train")
    at.selectbox(key="train.method").set_value("dpo").run()
    assert not at.exception, [e.value for e in at.exception]
    pairs_box = at.selectbox(key="train.pairs")
    assert pairs_box.value == "ratings"
    assert pairs_box.options[0] == "from ratings: 20 pairs (20 votes, 0 scores, 0 accepts)"
    assert not at.error and not at.button(key="train.start").disabled  # no dataset needed
    at.query_params["run"] = RUN
    at.run()
    charts = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Preferences learned" in charts, charts
