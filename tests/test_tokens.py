"""The token file (core.data.tokens): tokenized once per tokenizer, decoded back to the packed text, read by the
trainer through numpy.memmap with the same losses as the in-memory packing it replaced."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import models
from core.data import dataset, tokens
from core.data.chunking import pack, tokenize_documents
from tests.conftest import run_core

DOCUMENTS = [f"Paragraph {i}: the lighthouse keeper wrote {i * 7} lines.\n\n青石镇的早晨 {i}。" * (1 + i % 5)
             for i in range(60)] + ["", "  ", "emoji 🚀 and ünïcödé"]


@pytest.fixture
def saved(workspace):
    data_dir = workspace.datasets_dir / "small"
    dataset.save(data_dir, DOCUMENTS, recipe={}, report={})
    return data_dir


def test_the_token_file_decodes_to_the_packed_text_with_eos_between_documents(workspace, saved):
    tokenizer = models.load_tokenizer("starter", workspace)
    files = tokens.ensure(saved, tokenizer)
    assert files.path == saved / "tokens" / tokens.tokenizer_key(tokenizer)
    assert files.meta["dtype"] == "uint16"  # the starter's vocabulary fits
    for part in ("data", "validation"):
        texts = dataset.read_texts(saved, part)
        stream = files.stream(part)
        assert isinstance(stream, np.memmap)
        eos = tokenizer.eos_token
        assert tokenizer.decode(stream.tolist()) == "".join(text + eos for text in texts)
        # the same ids as the in-memory packing, block for block
        expected = pack(tokenize_documents(tokenizer, texts), 32, tokenizer.eos_token_id).blocks
        assert [b.tolist() for b in files.blocks(part, 32)] == expected
    # built once: a second call reads the same files
    modified = (files.path / "train.bin").stat().st_mtime_ns
    assert tokens.ensure(saved, tokenizer).meta == files.meta
    assert (files.path / "train.bin").stat().st_mtime_ns == modified
    assert not [p for p in (saved / "tokens").iterdir() if p.name.startswith(".") and p.is_dir()]  # no staging left


def test_batches_written_in_one_pass_give_each_documents_own_ids_then_eos(workspace, saved, monkeypatch):
    """Many batches (a few documents each): the file is every document's ids from the tokenizer, then eos, in order."""
    monkeypatch.setattr(tokens, "BATCH_BYTES", 500)
    tokenizer = models.load_tokenizer("starter", workspace)
    files = tokens.ensure(saved, tokenizer)
    texts = dataset.read_texts(saved, "data")
    expected = [i for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in [*ids, tokenizer.eos_token_id]]
    assert files.stream("data").tolist() == expected
    assert files.meta["tokens"]["data"] == len(expected)


def test_a_large_vocabulary_is_stored_as_uint32():
    assert tokens.dtype_for(50257) == np.uint16 and tokens.dtype_for(65536) == np.uint16
    assert tokens.dtype_for(65537) == np.uint32


def test_overwriting_a_dataset_drops_its_token_files(workspace, saved):
    tokens.ensure(saved, models.load_tokenizer("starter", workspace))
    dataset.save(saved, DOCUMENTS[:20], recipe={}, report={}, overwrite=True)  # the cache is the lab's own
    assert not (saved / "tokens").exists()


def _losses(workspace, name: str) -> list[float]:
    run = workspace.runs_dir / name
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [line["loss"] for line in lines if "loss" in line]


def test_the_trainer_on_the_token_file_gives_the_in_memory_losses(workspace, saved):
    """Today's in-memory path (chunking.pack into a datasets.Dataset with the first label masked), run in this process
    with the worker's own TrainingArguments, against a real `python -m core train` on the token file."""
    from datasets import Dataset
    from transformers import Trainer, default_data_collator

    from core.train import worker
    from core.train.config import TrainConfig

    options = dict(dataset="small", model="starter", block_size=32, batch_size=4, max_steps=6, logging_steps=1,
                   eval_steps=100, learning_rate=1e-3, seed=7, device="cpu", gallery_prompts=[])
    result = run_core(workspace, "train", "--data", "small", "--model", "starter", "--block-size", "32",
                      "--batch-size", "4", "--max-steps", "6", "--learning-rate", "1e-3", "--seed", "7",
                      "--device", "cpu", "--eval-steps", "100", "--name", "disk", "--config",
                      _config_file(workspace, options))
    assert result.returncode == 0, result.stderr[-2000:]
    on_disk = _losses(workspace, "disk")

    tokenizer, model = models.load("starter", workspace, for_training=True)
    texts = dataset.read_texts(saved, "data")
    blocks = pack(tokenize_documents(tokenizer, texts), 32, tokenizer.eos_token_id).blocks
    config = TrainConfig(**options)
    args = worker._arguments(workspace.root / "reference", config, learning_rate=1e-3, use_cpu=True,
                             precision="fp32", world=1)
    train = Dataset.from_dict({"input_ids": blocks, "labels": [[-100, *b[1:]] for b in blocks]})
    trainer = Trainer(model=model, args=args, data_collator=default_data_collator, train_dataset=train,
                      eval_dataset=train.select(range(2)))
    trainer.train()
    in_memory = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(on_disk) == len(in_memory) == 6
    assert on_disk == pytest.approx(in_memory, rel=1e-4)


def _config_file(workspace, options: dict) -> str:
    path = workspace.root / "options.json"
    path.write_text(json.dumps(options), encoding="utf-8")
    return str(path)


def test_bench_scale_runs_on_a_small_size(workspace):
    result = run_core(workspace, "bench", "scale", "--json", "--sizes", "1", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    (row,) = figures["sizes"]
    assert row["corpus_mb"] == pytest.approx(1, abs=0.05)
    assert row["tokens"] > 100_000 and row["token_file_bytes_per_token"] == 2
    assert row["tokenize_mb_per_s"] > 0 and row["tokenize_mb_per_cpu_s"] > 0 and row["trainer_peak_rss_mb"] > 0
    # the loader's own peak (an interpreter and a 1 MB corpus), not the bench process's size carried over by ru_maxrss
    assert 0 < row["load_peak_rss_mb"] < 200
    assert row["index_mb_per_s"] > 0 and row["index_bytes_per_token"] > 0  # the memorization index, built
    assert figures["rss_growth"] is None  # one size: nothing to compare
    refused = run_core(workspace, "bench", "scale", "--sizes", "a,b")
    assert refused.returncode != 0 and refused.stderr.startswith("error: --sizes")
