"""The starter model: a real, loadable GPT-2 with its own byte-level tokenizer, the same for the same seed."""

import subprocess
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.models.starter import StarterConfig, build_model
from tests.conftest import ROOT, core_env


def test_loads_with_auto_classes(starter_dir):
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    model = AutoModelForCausalLM.from_pretrained(starter_dir)
    assert model.config.model_type == "gpt2"
    assert (model.config.n_layer, model.config.n_embd, model.config.n_positions) == (4, 256, 512)
    assert 2e6 < model.num_parameters() < 10e6
    assert 6000 <= len(tokenizer) <= 8192
    assert tokenizer.eos_token == "<|endoftext|>"
    assert model.config.eos_token_id == tokenizer.eos_token_id


def test_tokenizer_round_trips_any_text(starter_dir):
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    for text in ["The lighthouse keeper wrote letters.", "青石镇的雨下了三天。", "emoji 🪶 and ＡＢＣ１２３"]:
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
