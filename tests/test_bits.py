"""Bits per character: total NLL over held-out text / its characters / ln 2, the same for any tokenizer; and the
fitted tokenizer that a from-scratch run trains with: it round-trips its corpus and unseen text, never U+FFFD."""

from __future__ import annotations

import json
import math

import pytest

from core import evaluation
from core.evaluation import bits
from core.models import fitted_tokenizer
from core.models.starter import StarterConfig, build_model

HELD_OUT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
            "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles")
UNSEEN = "𠀀𠀁𪚥 emoji 😀👍🏽 mixed 中文と日本語 Ελληνικά العربية e\u0301 \x00\t\r\n end"


def _dataset(path, held_out: str):
    path.mkdir(parents=True)
    (path / "data.jsonl").write_text(json.dumps({"text": "Some training text."}) + "\n", encoding="utf-8")
    (path / "validation.jsonl").write_text(json.dumps({"text": held_out}) + "\n", encoding="utf-8")
    return path


def _by_hand(model, tokenizer, text: str, block_size: int) -> tuple[float, int]:
    """(total NLL in nats, characters) over the packed blocks of the text, computed directly."""
    import torch

    stream = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    blocks = [stream[i:i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]
    ids = torch.tensor(blocks)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).double(),
                                            ids[:, 1:].reshape(-1), reduction="sum").item()
    # ASCII text: decoding the predicted tokens (all but each block's first) spells exactly their characters
    characters = sum(len(tokenizer.decode(block[1:], skip_special_tokens=True)) for block in blocks)
    return nll, characters


def test_bits_per_character_is_total_nll_over_characters_for_two_tokenizers(workspace, tmp_path):
    from transformers import AutoTokenizer

    data = _dataset(tmp_path / "held-out", HELD_OUT)
    tokenizers = {"starter": AutoTokenizer.from_pretrained(workspace.starter_dir),
                  "chars": fitted_tokenizer.fit([HELD_OUT], kind="chars")}
    measured = {}
    for name, tokenizer in tokenizers.items():
        model = build_model(StarterConfig(n_layer=1, n_embd=32, n_head=2, n_positions=64), len(tokenizer),
                            tokenizer.eos_token_id).eval()
        model.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
        result = evaluation.perplexity(str(tmp_path / name), str(data), workspace=workspace, block_size=16)
        nll, characters = _by_hand(model, tokenizer, HELD_OUT, 16)
        assert result["characters"] == characters > 0
        assert result["utf8_bytes"] == characters  # ASCII: one byte a character
        assert result["bits_per_char"] == pytest.approx(nll / characters / math.log(2), rel=1e-4)
        assert result["bits_per_char"] == pytest.approx(bits.bits_per_character(nll, characters), rel=1e-4)
        measured[name] = result
    # the two tokenizers cut the same text into different numbers of tokens; characters are characters
    assert measured["starter"]["tokens"] != measured["chars"]["tokens"]


def test_a_character_split_over_byte_tokens_counts_once():
    tokenizer = fitted_tokenizer.fit(["plain ascii text " * 50], kind="bpe")
    ids = tokenizer("😀é中", add_special_tokens=False)["input_ids"]
    assert len(ids) > 3  # byte pieces: none of these characters is in the vocabulary
    assert bits.TokenText(tokenizer).count(ids) == (3, len("😀é中".encode()))
    assert bits.TokenText(tokenizer).count([tokenizer.eos_token_id]) == (0, 0)


@pytest.mark.parametrize("kind", ["chars", "bpe"])
def test_a_fitted_tokenizer_round_trips_its_corpus_and_unseen_text(kind, tmp_path):
    from transformers import AutoTokenizer

    corpus = [HELD_OUT, "床前明月光，疑是地上霜。举头望明月，低头思故乡。" * 3]
    tokenizer = fitted_tokenizer.fit(corpus, kind=kind)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)  # as a run's checkpoint, export and the Playground load it
    for text in [*corpus, UNSEEN]:
        for tok in (tokenizer, reloaded):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            decoded = tok.decode(ids)
            assert decoded == text and "\ufffd" not in decoded
            assert bits.TokenText(tok).count(ids) == (len(text), len(text.encode()))
    assert len(tokenizer) < 1024  # small: the output projection of a tiny model stays small


def test_the_bpe_vocabulary_grows_with_the_corpus_within_its_bounds():
    """A token per ~500 training characters, a power of two from 512 to 4096: tinyshakespeare's 1M characters get 2048
    (the size measured best in a 75-second budget), a short text stays at 512, a large corpus stops at 4096."""
    assert [fitted_tokenizer.bpe_vocab(chars) for chars in (0, 20_000, 1_003_854, 3_000_000, 10**9)] == [
        512, 512, 2048, 4096, 4096]
    corpus = [f"{HELD_OUT} {i} " for i in range(8000)]  # ~1M characters of one text with numbers: 2048 asked for
    tokenizer = fitted_tokenizer.fit(corpus, kind="bpe")
    assert 512 < len(tokenizer) <= 2048  # the trainer stops early when no pair is frequent enough for more merges


def test_the_kind_follows_the_script():
    assert fitted_tokenizer.is_cjk_heavy(["床前明月光，疑是地上霜。"])
    assert not fitted_tokenizer.is_cjk_heavy([HELD_OUT])


def test_a_run_scores_every_evaluation_and_its_final_model_in_bits_per_character(trained_run, monkeypatch):
    from core.train import runs

    monkeypatch.setenv("QUILL_HOME", str(trained_run.workspace.root))
    evals = [m for m in runs.read_metrics(trained_run.run_dir) if m.get("eval_loss") is not None]
    assert evals and all(m["bits_per_char"] > 0 and m["bits_per_byte"] > 0 for m in evals)
    status = runs.status(trained_run.run_dir)
    # the trainer's figure and `eval`'s on the same final model and the same validation blocks agree
    result = evaluation.perplexity("shared/final", "sample", workspace=trained_run.workspace, block_size=64)
    assert status["final_bits_per_char"] == pytest.approx(result["bits_per_char"], rel=0.02)
    listed = runs.list_runs(trained_run.workspace)
    assert listed[0]["best_bits_per_char"] == pytest.approx(min(m["bits_per_char"] for m in evals))
