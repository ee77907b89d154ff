"""`python -m core bench index`: building and querying the memorization index on a generated corpus.

The build runs in a fresh process, so its peak RSS is the build's own (less that process's start-up footprint).
Bytes per token count every file of the index against the starter tokenizer's tokens for the same text.
"""

from __future__ import annotations

import json
import random
import resource
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

from core.bench.clean import generated_corpus
from core.models.starter import build_starter
from core.workspace import Workspace

QUERIES = 20


def bench_index(megabytes: float = 50) -> dict:
    docs = generated_corpus(megabytes)
    corpus_bytes = sum(len(d.encode("utf-8")) for d in docs)
    with tempfile.TemporaryDirectory(prefix="quill-bench-index-") as tmp:
        folder = Path(tmp) / "dataset"
        folder.mkdir()
        with (folder / "data.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs)
        with get_context("spawn").Pool(1) as pool:
            build = pool.apply(_build, (str(folder),))
        index_bytes = build.pop("index_bytes")
        query_ms, flagged = _query_ms(folder, docs)
    tokens = _starter_tokens(docs)
    mb = corpus_bytes / 1e6
    return {
        "corpus_mb": round(mb, 1),
        "index_mb_per_s": round(mb / build["wall_s"], 2),
        "index_mb_per_cpu_s": round(mb / build["cpu_s"], 2),  # what an idle core would do: the machine is shared
        "index_bytes_per_token": round(index_bytes / tokens, 2),
        "index_bytes_per_corpus_byte": round(index_bytes / corpus_bytes, 3),
        "index_peak_rss_mb": round(build["peak_rss_mb"], 1),
        "index_rss_per_corpus_mb": round((build["peak_rss_mb"] - build["start_rss_mb"]) / mb, 2),
        "query_ms": round(query_ms, 1),
        "query_flagged": flagged,
        "tokens": tokens,
        "tokenizer": "starter",
    }


def _build(folder: str) -> dict:
    """In a fresh process: build the index and say what it cost."""
    from core.evaluation import memorization  # imported first: numpy and the library are not the build's cost

    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    wall, cpu = time.perf_counter(), time.process_time()
    out = memorization.build(Path(folder))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "start_rss_mb": start_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        "index_bytes": sum(p.stat().st_size for p in out.iterdir()),
    }


def _query_ms(folder: Path, docs: list[str]) -> tuple[float, float]:
    """Mean time of one memorization check of a sample that copies 120 characters of a document, and the share
    of those samples flagged (all of them, when the index works)."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.evaluation import memorization
    from core.evaluation.sample_stats import memorization as memorized

    index, rng = memorization.open_index(folder), random.Random(0)
    queries = []
    for _ in range(QUERIES):
        doc = rng.choice(docs)
        start = rng.randrange(max(1, len(doc) - 400))
        queries.append("Once upon a time, " + doc[start : start + 120] + " and then nothing was the same again.")
    started = time.perf_counter()
    flagged = sum(memorized(q, index).flagged for q in queries)
    return (time.perf_counter() - started) * 1000 / QUERIES, flagged / QUERIES


def _starter_tokens(docs: list[str]) -> int:
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoTokenizer

    starter = Workspace.from_env().starter_dir
    with tempfile.TemporaryDirectory(prefix="quill-bench-starter-") as tmp:
        if not (starter / "tokenizer.json").is_file():
            build_starter(Path(tmp) / "starter")
            starter = Path(tmp) / "starter"
        tokenizer = AutoTokenizer.from_pretrained(starter)
        return sum(len(ids) for ids in tokenizer(docs, add_special_tokens=False)["input_ids"])
