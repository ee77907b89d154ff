"""A dataset's packed token stream on disk, tokenized once per tokenizer (nanoGPT's train.bin, with a key).

    workspace/datasets/<name>/tokens/<key>/train.bin        data.jsonl's documents, each followed by eos
                                          /validation.bin   validation.jsonl's, the same way
                                          /meta.json        dtype, eos id, token counts, the tokenizer's key

`key` is a hash of the tokenizer's tokenizer.json (and its eos), so two models with one tokenizer share a file and a
retrained tokenizer gets a new one. Tokens are uint16 when the vocabulary fits, else uint32. Readers map the files
with numpy.memmap: the trainer, `eval` and the token counts hold pages of the file, never the whole stream, so
memory does not grow with the corpus. The packed blocks of `core.data.chunking.pack` are slices of this stream:
block i is stream[i * block_size : (i + 1) * block_size], the partial tail dropped.

Building streams data.jsonl in batches through the fast tokenizer's Rust batch encoder (it spreads a batch over every
core), writes into a temporary folder and renames it into place: a reader sees a complete folder or none.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path

import numpy as np

PARTS = {"data": "train", "validation": "validation"}  # dataset file stem -> token file stem
BATCH_BYTES = 4_000_000  # text per batch handed to the tokenizer: large enough to keep every core busy, flat memory
FORMAT = 1


@dataclass(frozen=True)
class TokenFiles:
    path: Path  # tokens/<key>/
    meta: dict

    def stream(self, part: str = "data") -> np.ndarray:
        """The part's whole token stream, memory-mapped read-only (an empty array when the part has no tokens)."""
        dtype, count = np.dtype(self.meta["dtype"]), self.meta["tokens"][part]
        if count == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(self.path / f"{PARTS[part]}.bin", dtype=dtype, mode="r", shape=(count,))

    def block_count(self, part: str, block_size: int) -> int:
        return self.meta["tokens"][part] // block_size

    def blocks(self, part: str, block_size: int) -> list[np.ndarray]:
        """The packed blocks as views into the mapped file (no copy)."""
        stream = self.stream(part)
        return [stream[i * block_size:(i + 1) * block_size] for i in range(len(stream) // block_size)]


def tokenizer_key(tokenizer) -> str:
    """A short hash of what decides the ids: the fast tokenizer's full definition (tokenizer.json) and its eos."""
    definition = tokenizer.backend_tokenizer.to_str()
    return hashlib.sha256(f"{definition}\0{tokenizer.eos_token_id}".encode()).hexdigest()[:16]


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def ensure(data_dir: Path, tokenizer) -> TokenFiles:
    """The dataset's token files for this tokenizer, built now if they are not there yet."""
    folder = Path(data_dir) / "tokens" / tokenizer_key(tokenizer)
    existing = read(folder)
    if existing is not None:
        return existing
    folder.parent.mkdir(parents=True, exist_ok=True)
    # An OS lock: the ranks of a DDP run (or two runs) on one dataset tokenize it once; the others wait and read it.
    with (folder.parent / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return read(folder) or build(Path(data_dir), tokenizer, folder)


def read(folder: Path) -> TokenFiles | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return TokenFiles(folder, meta) if meta.get("format") == FORMAT else None


def build(data_dir: Path, tokenizer, folder: Path) -> TokenFiles:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tokenizing a dataset to disk needs a fast (Rust) tokenizer")
    eos = tokenizer.eos_token_id
    dtype = dtype_for(len(tokenizer))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        counts = {}
        for part, stem in PARTS.items():
            source = data_dir / f"{part}.jsonl"
            counts[part] = _write_stream(source, tokenizer, eos, dtype, staging / f"{stem}.bin") if source.is_file() else 0
        meta = {"format": FORMAT, "key": folder.name, "dtype": dtype.name, "eos_token_id": eos,
                "vocab_size": len(tokenizer), "tokens": counts, "tokenizer": tokenizer.name_or_path}
        (staging / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            os.rename(staging, folder)
        except OSError:  # another process built it meanwhile: theirs is as good as ours
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read(folder) or TokenFiles(folder, meta)


def _write_stream(source: Path, tokenizer, eos: int, dtype: np.dtype, out: Path) -> int:
    """Tokenize a JSONL file's texts batch by batch, appending each document's ids and eos to `out`.

    encode_batch_fast runs a whole batch on every core in Rust and skips the character offsets, which nothing here
    reads (about a fifth of encode_batch's time). Each batch becomes one array in one pass (np.fromiter over the ids and
    the eos after each document) and one write: no per-document arrays or concatenations.
    """
    backend = tokenizer.backend_tokenizer
    ends = (eos,)
    total = 0
    with out.open("wb") as f:
        for batch in _batches(source):
            ids = [e.ids for e in backend.encode_batch_fast(batch, add_special_tokens=False)]
            count = sum(map(len, ids)) + len(ids)
            chunk = np.fromiter(chain.from_iterable(chain.from_iterable(zip(ids, repeat(ends)))), dtype, count)
            chunk.tofile(f)
            total += count
    return total


def _batches(source: Path):
    """Lists of texts of about BATCH_BYTES, read line by line: memory holds one batch, not the file."""
    batch, size = [], 0
    with source.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            text = json.loads(line)["text"]
            batch.append(text)
            size += len(text)
            if size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch
