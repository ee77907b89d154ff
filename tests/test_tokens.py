"""The token file (core.data.tokens): tokenized once per tokenizer, decoded back to the packed text, read by the
trainer through numpy.memmap with the same losses as the in-memory packing it replaced."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from core import models
from core.data import dataset, tiktoken_bpe, tokens
from core.data.chunking import pack, tokenize_documents
from tests.conftest import SHARED, require, run_core

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
    with the worker's own TrainingArguments, against the real trainer (`core.train.worker`) on the token file. The
    trainer runs in this process too: a launch would spend its ~20 s importing what this process has imported already
    (the command line's launch is the shared `trained_run`'s)."""
    from datasets import Dataset
    from transformers import Trainer, default_data_collator

    from core.train import runs, worker
    from core.train.config import TrainConfig

    options = dict(dataset="small", model="starter", block_size=32, batch_size=4, max_steps=6, logging_steps=1,
                   eval_steps=100, learning_rate=1e-3, seed=7, device="cpu", gallery_prompts=[])
    worker.train(runs.create(workspace, TrainConfig(**options), name="disk"))
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
    # the mixed English/Chinese corpus loaded as text and as JSONL, each in its own process
    assert row["load_rss_per_corpus_byte"] > 0 and row["load_jsonl_rss_per_corpus_byte"] > 0
    assert row["load_mb_per_s"] > 0 and row["load_jsonl_mb_per_s"] > 0
    assert row["index_mb_per_s"] > 0 and row["index_bytes_per_token"] > 0  # the memorization index, built
    assert figures["rss_growth"] is None  # one size: nothing to compare
    refused = run_core(workspace, "bench", "scale", "--sizes", "a,b")
    assert refused.returncode != 0 and refused.stderr.startswith("error: --sizes")


# tiktoken's twin of the tokenizer (core.data.tiktoken_bpe): the token file stays the tokenizer's own, byte for byte

def _real_corpus(name: str) -> list[str]:
    from core.data.corpus import sample_files
    from core.data.loading import LoadOptions, load_paths

    if name == "sample corpus":
        return [d.text for d in load_paths(sample_files(), allowed_roots=None).documents]
    require(SHARED.exists(), "../shared is missing")
    if name == "plays":
        plays = load_paths([SHARED / "data" / "tinyshakespeare.txt"], LoadOptions(txt_split="paragraphs"),
                           allowed_roots=None)
        return [d.text for d in plays.documents]
    return [d.text for d in load_paths([SHARED / "data" / "zh-poetry"], allowed_roots=None).documents]


def _reference_bytes(tokenizer, texts: list[str], dtype) -> bytes:
    """What the tokenizers-only path wrote: each text's ids from the Rust batch encoder, then eos."""
    encoded = tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    return np.array([i for e in encoded for i in [*e.ids, tokenizer.eos_token_id]], dtype=dtype).tobytes()


@pytest.mark.parametrize("name", ["chinese poetry", "plays", "sample corpus"])
def test_the_starter_token_file_from_tiktoken_is_byte_identical_to_the_tokenizers_one(workspace, monkeypatch, name):
    """Real text: the first few thousand bytes are checked both ways, tiktoken writes the rest, in many batches."""
    texts = _real_corpus(name)
    data_dir = workspace.datasets_dir / "real"
    dataset.save(data_dir, texts, recipe={}, report={})
    monkeypatch.setattr(tokens, "PROBE_BYTES", 2_000)
    monkeypatch.setattr(tokens, "BATCH_BYTES", 20_000)
    tokenizer = models.load_tokenizer("starter", workspace)
    files = tokens.ensure(data_dir, tokenizer)
    assert files.meta["encoder"] == "tiktoken"
    data_bytes = sum(len(t.encode()) for t in dataset.read_texts(data_dir, "data"))
    assert data_bytes > 30 * tokens.PROBE_BYTES  # mostly tiktoken's work
    for part, stem in tokens.PARTS.items():
        written = (files.path / f"{stem}.bin").read_bytes()
        assert written == _reference_bytes(tokenizer, dataset.read_texts(data_dir, part), np.uint16)
    assert tokenizer.decode(files.stream("data").tolist()) == "".join(t + tokenizer.eos_token
                                                                      for t in dataset.read_texts(data_dir, "data"))


def _crossed_tokenizer(merges: list[tuple[str, str]]):
    """A byte-level BPE whose third merge makes a token that the first two keep it from: given `b c`, `a b`,
    `ab c`, the text "abc" is `a bc` to tokenizers (no merge joins a and bc), while tiktoken, which merges any pair
    whose concatenation is a token, makes it `abc`."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers import models as bpe_models
    from transformers import PreTrainedTokenizerFast

    from core.text import byte_chars

    vocab = {"<|endoftext|>": 0} | {c: i + 1 for i, c in enumerate(byte_chars().values())}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    backend = Tokenizer(bpe_models.BPE(vocab, merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(["<|endoftext|>"])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")


@pytest.mark.parametrize("merges, caught_by", [
    ([("x", "z"), ("q", "x"), ("qx", "z")], "the dataset"),  # "qxz" is in the documents only
    # "they" is in the probe: tokenizers gives t he y, tiktoken the y
    ([("h", "e"), ("t", "h"), ("th", "e")], "the fixed probe"),
])
def test_a_tokenizer_that_tiktoken_encodes_differently_falls_back_to_tokenizers(tmp_path, caplog, merges, caught_by):
    tokenizer = _crossed_tokenizer(merges)
    texts = [f"document {i}: the qxz they saw, 青石镇 {i}" for i in range(50)]
    data_dir = tmp_path / "crossed"
    dataset.save(data_dir, texts, recipe={}, report={})
    with caplog.at_level(logging.DEBUG, logger="core.data"):
        files = tokens.ensure(data_dir, tokenizer)
    assert files.meta["encoder"] == "tokenizers"
    assert "tokenizing with tokenizers, not tiktoken: the two give different ids" in caplog.text
    assert ("this dataset" in caplog.text) == (caught_by == "the dataset")
    for part, stem in tokens.PARTS.items():
        written = (files.path / f"{stem}.bin").read_bytes()
        assert written == _reference_bytes(tokenizer, dataset.read_texts(data_dir, part), np.uint16)


def test_only_gpt2_kind_byte_level_bpe_tokenizers_get_a_twin(workspace):
    starter = json.loads(models.load_tokenizer("starter", workspace).backend_tokenizer.to_str())
    eos = "<|endoftext|>"
    assert tiktoken_bpe.unsupported(starter, eos) is None
    prefix_space = {**starter, "pre_tokenizer": {**starter["pre_tokenizer"], "add_prefix_space": True}}
    assert "pre-tokenizer" in tiktoken_bpe.unsupported(prefix_space, eos)
    extra = {**starter, "added_tokens": [*starter["added_tokens"], {**starter["added_tokens"][0], "content": "<pad>"}]}
    assert "added tokens" in tiktoken_bpe.unsupported(extra, eos)
    wordpiece = {**starter, "model": {"type": "WordPiece", "vocab": {}}}
    assert "BPE" in tiktoken_bpe.unsupported(wordpiece, eos)
    assert "overlaps" in tiktoken_bpe.unsupported({**starter, "added_tokens": [{**starter["added_tokens"][0],
                                                                                  "content": "<eos<"}]}, "<eos<")


def test_bench_tokenize_times_both_encoders_on_the_same_text(workspace, tmp_path):
    poem = tmp_path / "poem.txt"
    poem.write_text("床前明月光，疑是地上霜。\n\n举头望明月，低头思故乡。\n\n" * 200, encoding="utf-8")
    result = run_core(workspace, "bench", "tokenize", "--json", "--megabytes", "0.3", "--paths", poem)
    assert result.returncode == 0, result.stderr[-2000:]
    generated, real = json.loads(result.stdout)["corpora"]
    assert generated["corpus_mb"] == pytest.approx(0.3, abs=0.01) and real["corpus"] == "poem.txt"
    for row in (generated, real):
        assert row["same_ids"] is True and row["tokens"] > 0
        assert row["tokenizers"]["mb_per_cpu_s"] > 0 and row["tiktoken"]["mb_per_cpu_s"] > 0
    missing = run_core(workspace, "bench", "tokenize", "--paths", tmp_path / "nowhere.txt")
    assert missing.returncode != 0 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
