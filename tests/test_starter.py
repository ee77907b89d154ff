"""The starter model: a real, loadable GPT-2 with its own byte-level tokenizer, the same for the same seed; the
common Han characters, simplified and traditional, are whole tokens."""

import json
import subprocess
import sys
from collections import Counter

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.data.corpus import json_strings, sample_texts
from core.errors import UserError
from core.models.starter import StarterConfig, build_model
from core.models.starter_tokenizer import train_tokenizer
from core.text import han_chars, tongyong_guifan, traditional_forms
from tests.conftest import ROOT, SHARED, core_env, require

POETRY = SHARED / "data" / "zh-poetry"


def test_loads_with_auto_classes(starter_dir):
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    model = AutoModelForCausalLM.from_pretrained(starter_dir)
    assert model.config.model_type == "gpt2"
    assert (model.config.n_layer, model.config.n_embd, model.config.n_positions) == (4, 256, 512)
    assert 2e6 < model.num_parameters() < 10e6
    assert len(tokenizer) == StarterConfig().vocab_size  # end-of-text, bytes, ~16,000 whole Han characters, merges
    assert tokenizer.eos_token == "<|endoftext|>"
    assert model.config.eos_token_id == tokenizer.eos_token_id


def test_tokenizer_round_trips_any_text(starter_dir):
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    for text in ["The lighthouse keeper wrote letters.", "青石镇的雨下了三天。", "emoji 🪶 and ＡＢＣ１２３",
                 "秦川雄帝宅，函谷壯皇居。", "rare: 㐀 𰻞𰻞面 ₍ᐢ•ﻌ•ᐢ₎"]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids) == text
    # Learned merges: common words are single tokens, not bytes.
    assert len(tokenizer(" the")["input_ids"]) == 1


def test_untrained_loss_is_near_uniform(starter_dir):
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    model = AutoModelForCausalLM.from_pretrained(starter_dir)
    batch = tokenizer("Once upon a time in a small harbour town", return_tensors="pt")
    with torch.no_grad():
        loss = model(**batch, labels=batch["input_ids"]).loss.item()
    assert abs(loss - torch.log(torch.tensor(float(len(tokenizer)))).item()) < 1.0


def test_same_seed_same_weights_through_the_command_line(starter_dir, tmp_path):
    out = tmp_path / "again"
    result = subprocess.run(
        [sys.executable, "-m", "core", "starter", "--out", str(out), "--seed", "0"],
        cwd=ROOT, env=core_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "starter model built" in result.stdout
    first, second = load_file(starter_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert (starter_dir / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()

    again = subprocess.run(
        [sys.executable, "-m", "core", "starter", "--out", str(out)],
        cwd=ROOT, env=core_env(), capture_output=True, text=True, timeout=120,
    )
    assert again.returncode == 0 and "already built" in again.stdout


def test_another_seed_other_weights():
    a = build_model(StarterConfig(seed=0), vocab_size=300, eos_id=0).state_dict()
    b = build_model(StarterConfig(seed=1), vocab_size=300, eos_id=0).state_dict()
    assert not torch.equal(a["transformer.h.0.attn.c_attn.weight"], b["transformer.h.0.attn.c_attn.weight"])


def test_a_vocabulary_too_small_for_the_han_characters_is_refused():
    with pytest.raises(UserError, match="no room for merges"):
        train_tokenizer(["明月几时有"], vocab_size=8192)


def _one_token(tokenizer, chars) -> list[str]:
    return [c for c in chars if len(tokenizer(c)["input_ids"]) != 1]


def test_common_and_corpus_han_characters_are_single_tokens(starter_dir):
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    level_one = tongyong_guifan(1)
    assert len(level_one) == 3500 and level_one[:5] == list("一乙二十丁")
    assert _one_token(tokenizer, level_one) == []
    traditional = traditional_forms(set(level_one)) - set(level_one)
    assert {"發", "髮", "復", "複", "劍", "鐘", "鍾"} <= traditional  # every form, not one per character
    assert _one_token(tokenizer, traditional) == []
    assert _one_token(tokenizer, {c for text in sample_texts() for c in han_chars(text)}) == []
    # Merges build words on the whole characters: the sample corpus's frequent words are tokens of their own.
    words = [t for t in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
             if len(han_chars(tokenizer.convert_tokens_to_string([t]))) >= 2]
    assert len(words) > 500
    assert len(tokenizer("青石镇")["input_ids"]) == 1


def test_shared_poetry_han_characters_are_single_tokens(starter_dir):
    """Measured on poetry the starter never saw (诗经, 论语, 宋词三百首, and 全唐诗 in traditional characters)."""
    files = sorted(POETRY.glob("*.json"))
    require(len(files) >= 4, f"the shared poetry corpora are missing: {POETRY}")
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    counts = Counter()
    for path in files:
        text = "\n".join(json_strings(json.loads(path.read_text(encoding="utf-8"))))
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
        counts.update(han_chars(text))
    whole = sum(n for char, n in counts.items() if len(tokenizer(char)["input_ids"]) == 1)
    assert whole / sum(counts.values()) >= 0.995, whole / sum(counts.values())
