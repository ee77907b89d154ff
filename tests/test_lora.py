"""LoRA on the starter and export (issue 15): one real 40-step LoRA run of the starter on the CPU (a subprocess, as
the page starts it), then what it must show: validation loss falls, only adapter weights change, `sample` loads the
checkpoint as peft's own merge, the merged export loads with plain transformers in a process that cannot import
the lab, and the model card parses with huggingface_hub and carries its metadata."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.data import dataset
from core.train import runs
from core.workspace import Workspace
from tests.conftest import SHARED, require, run_core

pytestmark = pytest.mark.slow  # end to end: real processes and models

CORPUS = SHARED / "data" / "tinyshakespeare.txt"
PROMPT = "ROMEO:"
NEW_TOKENS = 24
RUN = "lora-run"
CHECKPOINT = f"{RUN}/checkpoint-40"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def lora(tmp_path_factory, starter_dir):
    """A workspace with the starter, a Shakespeare dataset and one completed LoRA run; the starter's weights'
    hash from before the run."""
    require(CORPUS.exists(), f"the Tiny Shakespeare corpus is missing: {CORPUS}")
    root = tmp_path_factory.mktemp("lora") / "workspace"
    shutil.copytree(starter_dir, root / "models" / "starter")
    lines = CORPUS.read_text(encoding="utf-8")[:120_000].splitlines()
    documents = ["\n".join(lines[i:i + 40]) for i in range(0, len(lines), 40)]
    dataset.save(root / "datasets" / "shakespeare", documents, recipe={"steps": []}, report={"docs_in": 1})
    workspace = Workspace(root)
    before = _sha256(workspace.starter_dir / "model.safetensors")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUILL_HOME", str(root))
        done = run_core(workspace, "train", "--data", "shakespeare", "--model", "starter", "--method", "lora",
                        "--max-steps", "40", "--eval-steps", "20", "--block-size", "64", "--batch-size", "8",
                        "--learning-rate", "3e-3", "--device", "cpu", "--name", RUN, timeout=900)
        assert done.returncode == 0, done.stderr
        yield workspace, before


def _greedy_file(tmp_path: Path) -> Path:
    path = tmp_path / "greedy.json"
    path.write_text(json.dumps([{"name": "greedy", "max_new_tokens": NEW_TOKENS}]), encoding="utf-8")
    return path


def _peft_greedy(workspace: Workspace, checkpoint: Path) -> str:
    """peft's own base + adapter, merged by peft, and transformers' generate: what the lab's loading must equal."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    base = AutoModelForCausalLM.from_pretrained(workspace.starter_dir)
    model = PeftModel.from_pretrained(base, checkpoint).merge_and_unload().eval()
    inputs = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def test_lora_run_lowers_validation_loss(lora):
    from core import evaluation

    workspace, _ = lora
    base, tuned = evaluation.compare(["starter", CHECKPOINT], "shakespeare", workspace=workspace, block_size=64)
    assert tuned["mean_nll"] < base["mean_nll"] - 0.1, (base, tuned)


def test_only_adapter_parameters_change(lora):
    from safetensors import safe_open

    workspace, before = lora
    assert _sha256(workspace.starter_dir / "model.safetensors") == before  # the base's weights, byte for byte
    checkpoint = workspace.run_dir(RUN) / "checkpoint-40"
    assert not (checkpoint / "model.safetensors").exists()
    with safe_open(checkpoint / "adapter_model.safetensors", "pt") as tensors:
        names = list(tensors.keys())
        lora_b = [tensors.get_tensor(n) for n in names if "lora_B" in n]
    assert names and all("lora_" in n for n in names), names
    assert any(t.abs().sum() > 0 for t in lora_b)  # lora_B starts at zero: the adapter did train
    assert json.loads((checkpoint / "adapter_config.json").read_text())["base_model_name_or_path"] == "starter"
    assert runs.complete_checkpoints(workspace.run_dir(RUN))  # an adapter checkpoint counts as complete


def test_sample_loads_the_adapter_as_peft_merges_it(lora, tmp_path):
    workspace, _ = lora
    out = tmp_path / "samples.jsonl"
    done = run_core(workspace, "sample", "--model", CHECKPOINT, "--prompt", PROMPT, "--configs",
                    _greedy_file(tmp_path), "--out", out)
    assert done.returncode == 0, done.stderr
    text = json.loads(out.read_text(encoding="utf-8").splitlines()[0])["text"]
    assert text == _peft_greedy(workspace, workspace.run_dir(RUN) / "checkpoint-40")


# A process that cannot import the lab (nor peft): only transformers loads the folder.
PLAIN = """
import json, sys
sys.modules['core'] = sys.modules['peft'] = None  # `import core` and `import peft` now fail; find_spec says absent
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, prompt, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder).eval()
inputs = tokenizer(prompt, return_tensors='pt')
with torch.no_grad():
    out = model.generate(**inputs, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.eos_token_id)
print(json.dumps(tokenizer.decode(out[0, inputs['input_ids'].shape[1]:], skip_special_tokens=True)))
"""


@pytest.fixture(scope="module")
def exported(lora, tmp_path_factory):
    workspace, _ = lora
    out = tmp_path_factory.mktemp("export") / "model"
    done = run_core(workspace, "export", CHECKPOINT, "--out", out, "--merge")
    assert done.returncode == 0, done.stderr
    return out


def test_merged_export_loads_with_plain_transformers(lora, exported, tmp_path):
    workspace, _ = lora
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUILL_", "PYTHONPATH"))}
    done = subprocess.run([sys.executable, "-c", PLAIN, str(exported), PROMPT, str(NEW_TOKENS)], cwd=tmp_path,
                          env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == _peft_greedy(workspace, workspace.run_dir(RUN) /
                                                                           "checkpoint-40")


def test_the_exported_model_stops_at_end_of_text_under_plain_generate(exported):
    """generation_config.json names the end-of-text token, which a plain `generate` stops at."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(exported)
    model = AutoModelForCausalLM.from_pretrained(exported)
    assert json.loads((exported / "generation_config.json").read_text())["eos_token_id"] == tokenizer.eos_token_id
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id is not None


def test_model_card_parses_and_carries_metadata(exported):
    from huggingface_hub import ModelCard
    from PIL import Image

    card = ModelCard.load(exported / "README.md")
    assert card.data.base_model == "starter"
    assert card.data.library_name == "transformers"
    assert card.data.datasets == ["shakespeare"]
    assert card.data.metrics == ["bits_per_character", "perplexity"]
    assert card.data.language == ["en"]
    assert {"lora", "quill-lab"} <= set(card.data.tags)
    assert "## Validation bits per character and perplexity" in card.text and f"| {CHECKPOINT} |" in card.text
    row = next(line for line in card.text.splitlines() if line.startswith(f"| {CHECKPOINT} |"))
    assert 0 < float(row.split("|")[2]) < 40  # the bits per character of the exported model
    assert '"method": "lora"' in card.text  # the training configuration
    with Image.open(exported / "loss_curve.png") as image:
        assert image.format == "PNG"


def test_export_refuses_a_folder_it_did_not_make(lora, tmp_path):
    workspace, _ = lora
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    done = run_core(workspace, "export", CHECKPOINT, "--out", out, "--merge", "--no-perplexity")
    assert done.returncode != 0
    assert done.stderr.strip().startswith("error:") and len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_unmerged_export_of_a_workspace_only_base_is_refused(lora, tmp_path):
    workspace, _ = lora
    done = run_core(workspace, "export", CHECKPOINT, "--out", tmp_path / "adapter")
    assert done.returncode != 0 and "--merge" in done.stderr
    assert not (tmp_path / "adapter").exists()


def test_export_writes_the_best_rated_setting_as_generation_config(lora, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from core.publish import export
    from core.ratings.store import open_store

    workspace, _ = lora
    monkeypatch.setenv("QUILL_HOME", str(workspace.root))
    warm = {"name": "warm", "do_sample": True, "temperature": 0.7, "top_p": 0.85, "max_new_tokens": 30}
    greedy = {"name": "greedy", "do_sample": False, "max_new_tokens": 30}
    with open_store() as store:
        ids = store.add_samples([
            {"model": CHECKPOINT, "source": "playground", "prompt": PROMPT, "text": f"t{i}", "config_name": name,
             "settings": settings} for i, (name, settings) in enumerate([("warm", warm), ("greedy", greedy)] * 2)])
        for sample_id, score in zip(ids, [5, 2, 4, 1]):
            store.rate(sample_id, "ann", {c: score for c in ("fluency", "coherence", "style", "repetition")})
    phases = []
    try:
        result = export.export(CHECKPOINT, tmp_path / "rated", merge=True, workspace=workspace, perplexity=False,
                               on_phase=phases.append)
    finally:
        workspace.db_path.unlink()  # the other tests' exports see no ratings
    assert phases == ["load", "save", "card"]  # what the Train page's export shows while it works
    generation = json.loads((result.out / "generation_config.json").read_text(encoding="utf-8"))
    assert generation["temperature"] == 0.7 and generation["top_p"] == 0.85 and generation["do_sample"] is True
    eos = AutoTokenizer.from_pretrained(result.out).eos_token_id
    assert generation["eos_token_id"] == eos is not None  # plain generate stops at <|endoftext|>
    card = (result.out / "README.md").read_text(encoding="utf-8")
    assert "Best-rated decoding setting: `warm`" in card and "| warm | fluency | 2 | 4.50 |" in card


def test_memory_estimate_knows_the_method():
    from core.train.memory import KNOWN, Architecture, estimate, lora_parameters

    arch = Architecture(**KNOWN["gpt2-xl"])
    common = dict(block_size=512, batch_size=1, half_precision=True, gradient_checkpointing=True, on_gpu=True)
    full, lora = estimate(arch, **common), estimate(arch, **common, method="lora", lora_r=8)
    adapter = lora_parameters(arch, 8)
    assert lora.gradients == adapter * 4 and lora.optimizer == adapter * 8
    assert lora.weights == (arch.parameters + adapter) * 4  # frozen weights counted once, the adapters on top
    assert full.total > 24 * 2**30 > lora.total  # gpt2-xl: full does not fit a 24 GB card, LoRA does


def test_target_modules_are_found_from_the_model(starter_dir):
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from core.models.adapters import target_modules

    assert target_modules(AutoModelForCausalLM.from_pretrained(starter_dir)) == ["c_attn", "c_proj"]
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    assert target_modules(llama) == ["k_proj", "o_proj", "q_proj", "v_proj"]


@pytest.mark.parametrize("changes, code", [
    (dict(method="qlora"), "method"),
    (dict(method="lora", lora_r=0), "lora_r"),
    (dict(method="lora", lora_dropout=1.0), "lora_dropout"),
])
def test_config_checks_the_method_and_lora_options(changes, code):
    from core.train.config import TrainConfig, check

    assert [p.values["field"] for p in check(TrainConfig(dataset="poems", **changes))] == [code]
    assert check(TrainConfig(dataset="poems", lora_r=0)) == []  # LoRA options do not matter to a full fine-tune
