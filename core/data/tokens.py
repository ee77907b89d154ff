"""A dataset's packed token stream on disk, tokenized once per tokenizer (nanoGPT's train.bin, with a key).

    workspace/datasets/<name>/tokens/<key>/train.bin        data.jsonl's documents, each followed by eos
                                          /validation.bin   validation.jsonl's, the same way
                                          /meta.json        dtype, eos id, token counts, the tokenizer's key

`key` is a hash of the tokenizer's tokenizer.json (and its eos), so two models with one tokenizer share a file and a
retrained tokenizer gets a new one. Tokens are uint16 when the vocabulary fits, else uint32. Readers map the files
with numpy.memmap: the trainer, `eval` and the token counts hold pages of the file, never the whole stream, so
memory does not grow with the corpus. The packed blocks of `core.data.chunking.pack` are slices of this stream:
block i is stream[i * block_size : (i + 1) * block_size], the partial tail dropped.

Building streams data.jsonl in batches, writes into a temporary folder and renames it into place: a reader sees a
complete folder or none. A batch goes through tiktoken's twin of the tokenizer (core.data.tiktoken_bpe, ~4x faster)
once the dataset's first PROBE_BYTES of text came out id for id as the tokenizer's own Rust batch encoder gives them,
else through that encoder; meta.json says which (`encoder`). Either way the file holds the tokenizer's ids.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from core.data import tiktoken_bpe

log = logging.getLogger(__name__)

PARTS = {"data": "train", "validation": "validation"}  # dataset file stem -> token file stem
BATCH_BYTES = 4_000_000  # text per batch handed to the tokenizer: large enough to keep every core busy, flat memory
PROBE_BYTES = 1_000_000  # a dataset's leading text (UTF-8) encoded both ways before its twin may encode the rest
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
        counts, encode = {}, _Encoder(tokenizer, dtype)
        for part, stem in PARTS.items():
            source = data_dir / f"{part}.jsonl"
            counts[part] = _write_stream(source, encode, staging / f"{stem}.bin") if source.is_file() else 0
        meta = {"format": FORMAT, "key": folder.name, "dtype": dtype.name, "eos_token_id": eos,
                "vocab_size": len(tokenizer), "tokens": counts, "tokenizer": tokenizer.name_or_path,
                "encoder": encode.name}
        (staging / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            os.rename(staging, folder)
        except OSError:  # another process built it meanwhile: theirs is as good as ours
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read(folder) or TokenFiles(folder, meta)


def _write_stream(source: Path, encode, out: Path) -> int:
    """Tokenize a JSONL file's texts batch by batch, appending each document's ids and eos to `out`."""
    total = 0
    with out.open("wb") as f:
        for batch in _batches(source):
            chunk = encode(batch)
            chunk.tofile(f)
            total += len(chunk)
    return total


class _Encoder:
    """Batches of texts -> one array of each text's ids then eos. The tokenizer's tiktoken twin when it has one and
    the first PROBE_BYTES of the dataset came out the same both ways (that text is encoded both ways, then written
    once), else the tokenizer's own encoder."""

    def __init__(self, tokenizer, dtype: np.dtype):
        self.hf = hf_encoder(tokenizer, dtype)
        self.twin, self.dtype, self.name = tiktoken_bpe.twin(tokenizer), dtype, "tokenizers"
        self.checked = self.twin is None

    def __call__(self, batch: list[str]) -> np.ndarray:
        if not self.checked:
            self.checked = True
            head, rest = _split(batch, PROBE_BYTES)
            ids = self.hf(head)
            if np.array_equal(ids, self.twin.encode(head, self.dtype)):
                self.name = "tiktoken"
            else:
                log.debug("tokenizing with tokenizers, not tiktoken: the two give different ids on this dataset's "
                          "first %d bytes", PROBE_BYTES)
            return np.concatenate([ids, self(rest)])
        return self.twin.encode(batch, self.dtype) if self.name == "tiktoken" else self.hf(batch)


def _split(batch: list[str], limit: int) -> tuple[list[str], list[str]]:
    """The leading texts holding about `limit` bytes of UTF-8, and the rest."""
    size = 0
    for i, text in enumerate(batch):
        size += len(text.encode("utf-8"))
        if size >= limit:
            return batch[:i + 1], batch[i + 1:]
    return batch, []


def hf_encoder(tokenizer, dtype: np.dtype):
    """The tokenizer's own encoder as a function of a batch (the reference its tiktoken twin must match)."""
    return partial(_hf_ids, tokenizer.backend_tokenizer, tokenizer.eos_token_id, dtype)


def _hf_ids(backend, eos: int, dtype: np.dtype, batch: list[str]) -> np.ndarray:
    """The tokenizer's own Rust batch encoder. encode_batch_fast runs a whole batch on every core and skips the
    character offsets, which nothing here reads (about a fifth of encode_batch's time). The batch becomes one array in
    one pass (np.fromiter over the ids and the eos after each document): no per-document arrays or concatenations."""
    ids = [e.ids for e in backend.encode_batch_fast(batch, add_special_tokens=False)]
    count = sum(map(len, ids)) + len(ids)
    return np.fromiter(chain.from_iterable(chain.from_iterable(zip(ids, repeat((eos,))))), dtype, count)


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
