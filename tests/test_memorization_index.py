"""The on-disk memorization index: the same shared stretches and flags as a brute-force search, a few bytes per
token, built once per dataset, and never used half-written."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

from core.bench.clean import generated_corpus
from core.data import dataset
from core.data.corpus import sample_texts
from core.evaluation import memorization
from core.evaluation.sample_stats import MEMORIZATION_THRESHOLD
from core.evaluation.sample_stats import memorization as memorized
from tests.conftest import run_core

CHINESE = "床前明月光，疑是地上霜。举头望明月，低头思故乡。春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"


def brute_force(text: str, corpus: list[str]) -> str:
    """The longest substring of `text` found in one of the texts, the first on ties: the definition itself."""
    best = ""
    for i in range(len(text)):
        j = i + len(best) + 1
        while j <= len(text) and any(text[i:j] in doc for doc in corpus):
            best, j = text[i:j], j + 1
    return best


def write_dataset(folder: Path, texts: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
                                       encoding="utf-8")
    return folder


def samples(corpus: list[str], count: int, seed: int = 0) -> list[str]:
    """Texts that copy a stretch of a document (any length, starting mid-word) between unrelated text, and texts
    that copy nothing long: what a model's samples look like to the check."""
    rng, out = random.Random(seed), []
    for _ in range(count):
        doc = rng.choice([d for d in corpus if len(d) > 400])
        start = rng.randrange(len(doc) - 300)
        copied = doc[start : start + rng.choice([8, 20, 45, 50, 51, 52, 80, 200])]
        filler = rng.choice(["Zyx quibbled on Wednesday", "kazoos went bzzt", "机器人唱歌", ""])
        out.append(filler + copied + rng.choice(["☃ and so on", "？！", ""]))
    return out


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return sample_texts() + [CHINESE]


def test_dataset_index_finds_what_brute_force_finds(tmp_path, corpus):
    index = memorization.open_index(write_dataset(tmp_path / "ds", corpus))
    assert index.stride == memorization.STRIDE > 1  # the sparse index, read from disk
    dense = memorization.CorpusIndex(corpus)  # built in memory from a list: every character indexed
    queries = samples(corpus, 60) + [CHINESE[3:40] + "X", "Zyx quibbled: seventeen jade kazoos went bzzt.", ""]
    for query in queries:
        truth = brute_force(query, corpus)
        found, exact = memorized(query, index), memorized(query, dense)
        assert exact.shared == truth
        assert found.flagged == (len(truth) > MEMORIZATION_THRESHOLD)
        if len(truth.encode("utf-8")) >= index.gap:  # long enough to hold an indexed suffix: found exactly
            assert found.shared == truth, query
        else:  # shorter: something shared, never more than there is
            assert found.shared in query and any(found.shared in doc for doc in corpus) and found.length <= len(truth)


def test_many_copies_of_a_passage_do_not_hide_the_one_copied(tmp_path):
    # 300 documents hold the same sentence after different words; the sample copies one of them with its word:
    # the match must reach back into that word, whichever of the 300 copies the suffix array lists first.
    sentence = "the lighthouse keeper counted the ships that never came back to the harbour"
    corpus = [f"word{i:03d}x {sentence} and more." for i in range(300)]
    index = memorization.open_index(write_dataset(tmp_path / "ds", corpus))
    query = "Once, 7x " + sentence + "!"
    assert memorized(query, index).shared == brute_force(query, corpus) == "7x " + sentence


def test_a_copy_at_a_documents_start_or_end_is_found(tmp_path):
    corpus = ["Short one.", "Exactly twenty chars", "another document that ends with these words"]
    index = memorization.open_index(write_dataset(tmp_path / "ds", corpus))
    for query in ["Exactly twenty chars and then more", "I said: Short one.", "...ends with these words"]:
        assert memorized(query, index).shared == brute_force(query, corpus)
    assert memorized("Short one. Exactly twenty chars", index).shared == "Exactly twenty chars"  # no bridging


def test_bytes_per_token_and_reuse(tmp_path, starter_dir):
    from transformers import AutoTokenizer

    texts = generated_corpus(1)
    folder = write_dataset(tmp_path / "ds", texts)
    memorization.open_index(folder)
    files = sorted((folder / memorization.INDEX_DIR).iterdir())
    assert [f.name for f in files] == ["meta.json", "suffixes.npy", "text.bin"]
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    tokens = sum(map(len, tokenizer(texts, add_special_tokens=False)["input_ids"]))
    assert sum(f.stat().st_size for f in files) / tokens <= 8

    # A second open reads the same files: nothing is rebuilt.
    before = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in files}
    index = memorization.open_index(folder)
    assert {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in files} == before
    assert memorized(texts[3][100:300], index).length == 200

    # A changed data.jsonl is indexed again.
    write_dataset(folder, ["A completely different corpus about lighthouses and the keepers who live in them."])
    index = memorization.open_index(folder)
    assert memorized("the keepers who live in them.", index).length == len("the keepers who live in them.")
    assert memorized(texts[3][100:300], index).length < 20


@pytest.mark.parametrize("damage", ["no_meta", "truncated_text", "bad_meta", "other_stride", "staging_leftover"])
def test_a_half_written_index_is_never_used(tmp_path, damage):
    corpus = ["The first document has a sentence about a green lantern on a hill.", "和一个中文文档。"]
    folder = write_dataset(tmp_path / "ds", corpus)
    index_dir = folder / memorization.INDEX_DIR
    # Another dataset's index, moved in and claiming to index this one, then damaged as a cut-short build would.
    other = write_dataset(tmp_path / "other", ["Nothing in common with the first at all, only zebras."])
    memorization.open_index(other)
    shutil.copytree(other / memorization.INDEX_DIR, index_dir)
    meta = json.loads((index_dir / "meta.json").read_text())
    meta["source"] = memorization._stamp(folder / "data.jsonl")
    (index_dir / "meta.json").write_text(json.dumps(meta))
    if damage == "no_meta":  # meta.json is written last
        (index_dir / "meta.json").unlink()
    elif damage == "truncated_text":
        with (index_dir / "text.bin").open("r+b") as f:
            f.truncate(10)
    elif damage == "bad_meta":
        (index_dir / "meta.json").write_text('{"format": 1, "str')
    elif damage == "other_stride":
        (index_dir / "meta.json").write_text(json.dumps({**meta, "stride": 3}))
    else:  # a build killed before its rename leaves its hidden staging folder (its PID is no process's)
        index_dir.rename(index_dir.parent / f".memorization.staging-{2**22 + 12345}-abc")

    index = memorization.open_index(folder)
    for query in ["a sentence about a green lantern on a hill.", "about a green lantern on a hill, 和一个中文文档"]:
        assert memorized(query, index).shared == brute_force(query, corpus)
    assert [p.name for p in index_dir.parent.iterdir()] == ["memorization"]  # no staging leftovers


def test_a_dataset_with_its_index_can_still_be_overwritten(tmp_path):
    out = tmp_path / "ds"
    dataset.save(out, ["one document, long enough to split off a part"] * 12, recipe={}, report={})
    memorization.open_index(out)
    dataset.save(out, ["another document entirely"] * 12, recipe={}, report={}, overwrite=True)
    assert not (out / "index").exists()
    assert memorized("another document entirely", memorization.open_index(out)).length == 25


def test_unreadable_data_is_one_worded_error(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "data.jsonl").write_text('{"text": "fine"}\n{"text": broken\n', encoding="utf-8")
    from core.errors import UserError

    with pytest.raises(UserError, match="cannot index"):
        memorization.open_index(folder)
    assert not (folder / memorization.INDEX_DIR).exists()
    assert os.listdir(folder / "index") == []  # the staging folder went with the failed build


def test_bench_index_builds_and_queries_the_index(workspace):
    result = run_core(workspace, "bench", "index", "--megabytes", "0.2", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert figures["corpus_mb"] == pytest.approx(0.2, abs=0.05)
    assert figures["index_mb_per_s"] > 0 and figures["index_bytes_per_token"] > 0 and figures["query_ms"] > 0
