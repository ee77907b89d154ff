"""Perplexity through the project's `evaluate` metric (loaded by path, offline), cross-checked against a direct torch
computation; `python -m core eval --json`; a short fine-tune lowers it; distinct-n and self-BLEU on known texts."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from core import evaluation, models
from core.cli import main
from core.data import dataset
from core.train import runs
from tests.conftest import ROOT, core_env


@pytest.fixture(scope="module")
def ws(trained_run):
    """The shared trained workspace: the starter, `sample` (the project's sample corpus: 51 training, 6 validation
    docs) and one finished 20-step fine-tune of the starter on it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUILL_HOME", str(trained_run.workspace.root))
        yield trained_run.workspace


def test_the_metric_loaded_by_path_equals_a_direct_torch_computation(ws):
    import torch

    from core.data import tokens
    from core.data.chunking import pack_texts

    tokenizer, model = models.load("starter", ws)
    texts = dataset.read_texts(dataset.resolve(ws, "sample"), "validation")
    blocks = pack_texts(tokenizer, texts, 64)  # the in-memory packing
    on_disk = tokens.ensure(dataset.resolve(ws, "sample"), tokenizer).blocks("validation", 64)
    assert blocks == [block.tolist() for block in on_disk]  # the trainer's blocks (the token file), one for one
    blocks = blocks[:6]

    metric = evaluation.load_metric()
    assert type(metric).__module__.startswith("evaluate_modules.metrics.perplexity.")  # by path, not from the hub
    result = metric.compute(input_ids=blocks, model=model, batch_size=4)

    ids = torch.tensor(blocks)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    # position i predicts token i+1: the first token of each block is never a target
    summed = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                               reduction="sum").item()
    count = ids[:, 1:].numel()
    assert result["tokens"] == count == 6 * 63
    assert result["mean_nll"] == pytest.approx(summed / count, rel=1e-4)
    assert result["perplexity"] == pytest.approx(math.exp(summed / count), rel=1e-4)

    # the same through add_batch, and with the model given as a directory for the metric to load
    metric.add_batch(input_ids=blocks[:3])
    metric.add_batch(input_ids=blocks[3:])
    assert metric.compute(model=str(ws.starter_dir), batch_size=6)["perplexity"] == pytest.approx(
        result["perplexity"], rel=1e-4)


def test_eval_on_the_command_line_prints_one_json_object(ws, tmp_path):
    env = core_env(QUILL_HOME=str(ws.root), HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    done = subprocess.run([sys.executable, "-m", "core", "eval", "--model", "starter", "--data", "sample",
                           "--block-size", "128", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"perplexity", "tokens", "bits_per_char", "bits_per_byte"} <= result.keys()
    assert result["tokens"] == result["blocks"] * 127 > 0
    vocabulary = json.loads((ws.starter_dir / "starter.json").read_text(encoding="utf-8"))["vocab_size"]
    assert 1 < result["perplexity"] < 2 * vocabulary  # an untrained model: near uniform over its vocabulary


def test_eval_bad_input_is_one_error_line(ws, capsys):
    assert main(["eval", "--model", "starter", "--data", "no-such-dataset"]) == 2
    assert main(["eval", "--model", "starter", "--data", "sample", "--block-size", "100000"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err), err
    assert "no dataset 'no-such-dataset'" in err[0] and "context of 512" in err[1]


def test_a_short_fine_tune_lowers_perplexity(ws, trained_run):
    run_dir = trained_run.run_dir  # 20 steps, block 64, batch 4, the starter's own learning rate
    status = runs.status(run_dir)
    assert status["state"] == "completed", runs.log_tail(run_dir)

    names = evaluation.run_models(run_dir.name, ws)
    assert names == ["starter", f"{run_dir.name}/checkpoint-20", f"{run_dir.name}/final"]
    table = evaluation.compare([names[0], names[-1]], "sample", workspace=ws)
    before, after = table
    print(f"\nperplexity on sample/validation: starter {before['perplexity']:.1f} -> fine-tuned "
          f"{after['perplexity']:.1f} over {after['tokens']} tokens")
    assert before["block_size"] == after["block_size"] == 512 and before["tokens"] == after["tokens"]
    assert after["perplexity"] < before["perplexity"]
    # the trainer's own validation loss at block 64 is this metric's mean_nll on the same blocks
    at_64 = evaluation.perplexity(names[-1], "sample", workspace=ws, block_size=64)
    assert at_64["mean_nll"] == pytest.approx(status["final_eval_loss"], rel=1e-3)


def test_distinct_n_over_counts_ngrams_across_texts():
    assert evaluation.distinct_n_over(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert evaluation.distinct_n_over(["a b c", "a b d"], 2) == pytest.approx(3 / 4)  # (a b) twice
    assert evaluation.distinct_n_over(["a b", "c d"], 3) == 0.0  # no trigram: none spans two texts
    assert evaluation.distinct_n_over(["天天向上"], 1) == pytest.approx(3 / 4)  # characters for Chinese


def test_self_bleu_on_texts_of_known_score():
    assert evaluation.self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(1.0)
    assert evaluation.self_bleu(["alpha beta gamma delta", "one two three four", "red green blue yellow"]) == 0.0
    assert evaluation.self_bleu(["only one"]) is None
    # precisions 4/5, 3/4, 2/3, 1/2, equal lengths: (0.2) ** (1/4) either way round
    assert evaluation.self_bleu(["a b c d e", "a b c d f"]) == pytest.approx(0.2 ** 0.25)
    # 1/3 unigrams, no bigram or trigram: "exp" smoothing gives 1/(2*2) and 1/(4*1), as sacrebleu's sentence_bleu
    assert evaluation.self_bleu(["a b c", "a x y"]) == pytest.approx((1 / 3 * 1 / 4 * 1 / 4) ** (1 / 3))
    # "a b" against "a b c d": precisions 1, 1 (no trigram: effective order 2), brevity penalty exp(1 - 4/2);
    # "a b c d" against "a b": 2/4, 1/3, then no match at 3 and 4: smoothed 1/(2*2) and 1/(4*1), no penalty
    short, long = math.exp(1 - 4 / 2), (2 / 4 * 1 / 3 * 1 / 4 * 1 / 4) ** (1 / 4)
    assert evaluation.self_bleu(["a b", "a b c d"]) == pytest.approx((short + long) / 2)


def test_self_bleu_is_sacrebleus_corpus_bleu_of_each_text_against_the_others():
    import sacrebleu

    texts = ["the cat sat on the mat today", "the cat sat on a mat", "a dog lay on the mat today"]
    expected = [sacrebleu.corpus_bleu([texts[i]], [[texts[j]] for j in range(3) if j != i], tokenize="none").score / 100
                for i in range(3)]
    assert evaluation.self_bleu(texts) == pytest.approx(sum(expected) / 3)
