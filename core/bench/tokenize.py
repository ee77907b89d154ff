"""`python -m core bench tokenize`: the token file's two encoders, old and new, on the same text in one process.

`tokenizers` is the tokenizer's own Rust batch encoder; `tiktoken` its tiktoken twin (core.data.tiktoken_bpe). Both
encode the same in-memory batches (the token file's batch size) for the starter tokenizer, in turns, `ROUNDS` times;
the best round of each counts. Speeds are MB of UTF-8 text per wall second and per CPU second of this process
(every thread included): on a shared machine the second is the steadier figure. `same_ids` says the two gave one
array. The generated corpus is `core.bench.clean.generated_corpus`; each of `paths` (a file or a folder) adds a corpus
of real text, loaded as `clean` loads it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from core.bench.clean import generated_corpus
from core.models.starter import build_starter
from core.workspace import Workspace

ROUNDS = 2


def bench_tokenize(megabytes: float = 20, paths: list[str] | None = None) -> dict:
    corpora = {f"generated {megabytes:g} MB": generated_corpus(megabytes)}
    if paths:
        # lazy: charset_normalizer takes ~20 ms to import, and only this path needs it
        from core.data.loading import load_paths

        for path in paths:
            corpora[Path(path).name] = [d.text for d in load_paths([path], allowed_roots=None).documents]
    with tempfile.TemporaryDirectory(prefix="quill-bench-starter-") as tmp:
        tokenizer = _starter_tokenizer(Path(tmp))
        return {"tokenizer": "starter", "corpora": [_compare(name, docs, tokenizer) for name, docs in corpora.items()]}


def _compare(name: str, docs: list[str], tokenizer) -> dict:
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data import tiktoken_bpe, tokens

    dtype = tokens.dtype_for(len(tokenizer))
    twin = tiktoken_bpe.twin(tokenizer)
    encoders = {"tokenizers": tokens.hf_encoder(tokenizer, dtype)}
    if twin is not None:
        encoders["tiktoken"] = lambda batch: twin.encode(batch, dtype)
    batches = list(_batches(docs))
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    best, ids = {}, {}
    for _ in range(ROUNDS):
        for encoder, encode in encoders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            ids[encoder] = np.concatenate([encode(batch) for batch in batches])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            old = best.get(encoder, {"mb_per_s": 0, "mb_per_cpu_s": 0})
            best[encoder] = {"mb_per_s": max(old["mb_per_s"], round(mb / wall, 2)),
                             "mb_per_cpu_s": max(old["mb_per_cpu_s"], round(mb / cpu, 2))}
    row = {"corpus": name, "corpus_mb": round(mb, 2), "documents": len(docs), "tokens": len(ids["tokenizers"]), **best}
    if twin is not None:
        row["same_ids"] = bool(np.array_equal(ids["tokenizers"], ids["tiktoken"]))
        row["cpu_speedup"] = round(best["tiktoken"]["mb_per_cpu_s"] / best["tokenizers"]["mb_per_cpu_s"], 2)
    return row


def _batches(docs: list[str]):
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data.tokens import BATCH_BYTES

    start, size = 0, 0
    for i, doc in enumerate(docs):
        size += len(doc)
        if size >= BATCH_BYTES:
            yield docs[start:i + 1]
            start, size = i + 1, 0
    if start < len(docs):
        yield docs[start:]


def _starter_tokenizer(tmp: Path):
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoTokenizer

    starter = Workspace.from_env().starter_dir
    if not (starter / "tokenizer.json").is_file():
        starter = tmp / "starter"
        build_starter(starter)
    return AutoTokenizer.from_pretrained(starter)
