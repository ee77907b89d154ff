"""The memorization index: the longest stretch of a sample found verbatim in a dataset, for datasets of any size.

A sparse suffix array over the dataset's UTF-8 text: the text (`text.bin`, documents joined by NUL) and the start
offsets of every STRIDE-th byte's suffix in sorted order (`suffixes.npy`), both memory-mapped, so opening costs
nothing and queries touch a few pages. It is built once per dataset into `<dataset>/index/memorization/` (staged
and renamed into place, so a half-written index is never used) and rebuilt when `data.jsonl` changes. At STRIDE 8
that is 1.5 bytes per byte of text (about 6–7 bytes per GPT-2 token) where a suffix array of every character held
in memory cost 52. The suffix sort is libdivsufsort's (pydivsufsort).

Matching is over characters, exactly as before: a copied stretch of `text` starting at any offset of the corpus
contains an indexed suffix within its first GAP bytes, so each offset of the sample is searched with that suffix's
neighbours in the array, and every match found is extended backwards byte by byte. Stretches of GAP bytes or more
(the 50-character flag) are therefore found exactly; a shorter one may be reported shorter. Built from a list of
texts (`CorpusIndex(texts)`), every character is indexed (stride 1) and every length is exact.

The index is independent of any tokenizer, so one index serves every model trained on the dataset.
"""

from __future__ import annotations

import bisect
import json
import mmap
import shutil
import tempfile
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.files import staged_directory

FORMAT = 1  # bump when the files change meaning: older indexes are then rebuilt
STRIDE = 8  # bytes between indexed suffixes in a dataset's index
CANDIDATES = 4096  # most suffixes extended per sample offset: more copies of one passage than that are rare
INDEX_DIR = Path("index") / "memorization"  # inside the dataset folder
_SEP = b"\x00"  # between documents: a sample never contains it, so no match spans two documents
_FILES = ("text.bin", "suffixes.npy", "meta.json")


class CorpusIndex:
    """A (sparse) suffix array over texts, for the longest stretch a sample shares with them."""

    def __init__(self, texts: list[str], stride: int = 1):
        text = bytearray(_SEP)
        for doc in texts:
            text += doc.encode("utf-8") + _SEP
        self._init(bytes(text), _sparse_suffixes(np.frombuffer(text, dtype=np.uint8), stride), stride)

    @classmethod
    def load(cls, folder: Path) -> CorpusIndex:
        """An index saved by `build`, memory-mapped (read-only)."""
        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
        with open(Path(folder) / "text.bin", "rb") as f:
            text = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # never empty: it starts with a separator
        index = cls.__new__(cls)
        index._init(text, np.load(Path(folder) / "suffixes.npy", mmap_mode="r"), meta["stride"])
        return index

    def _init(self, text, suffixes: np.ndarray, stride: int) -> None:
        self.text, self.suffixes, self.stride = text, suffixes, stride
        self.bytes = np.frombuffer(text, dtype=np.uint8)  # the same memory, for gathering bytes at many offsets
        # A match starting anywhere holds an indexed suffix within its first `gap` bytes: indexed offsets are the
        # first character start in each block of `stride` bytes (UTF-8 characters are at most 4 bytes).
        self.gap = 1 if stride == 1 else stride + 3

    def longest_match(self, text: str) -> str:
        """The longest substring of `text` that occurs in the corpus (the first one, on ties)."""
        return _Query(self, text).run()


class _Query:
    """One search: the sample's UTF-8 bytes against the index, keeping the best (length in characters, start)."""

    def __init__(self, index: CorpusIndex, text: str):
        self.index, self.text = index, text
        self.s = text.encode("utf-8")
        self.starts = [i for i, b in enumerate(self.s) if b & 0xC0 != 0x80]  # byte offset of each character
        self.char_of = np.searchsorted(self.starts, np.arange(len(self.s) + 1)).tolist()  # characters before a byte
        self.best = (0, 0)  # (characters, character offset of the start)

    def run(self) -> str:
        index, n = self.index, len(self.s)
        if not len(index.suffixes) or not n:
            return ""
        # Pass 1: each offset's neighbours in the suffix array share the longest prefix with it (`reach`): they
        # give a lower bound, and (reach + gap) bounds any match through that offset from above.
        reach = {}
        for j in self.starts:
            at = self._insertion(j)
            for k in (at - 1, at):
                if 0 <= k < len(index.suffixes):
                    reach[j] = max(reach.get(j, 0), self._try(j, int(index.suffixes[k])))
        if index.gap > 1:
            for j in self.starts:
                self._around(j, reach.get(j, 0))
        length, start = self.best
        return self.text[start : start + length]

    def _around(self, j: int, reach: int) -> None:
        """Pass 2 at offset j: a longer match holds an indexed suffix within its first `gap` bytes, so it is one of
        the suffixes sharing a prefix with offset j, preceded by up to gap - 1 bytes that match the sample's."""
        index, s, char_of, best = self.index, self.s, self.char_of, self.best[0]
        left = max(0, j - index.gap + 1)
        if char_of[j + reach] - char_of[left] < best:
            return  # even the longest forward match with the longest back extension is too short
        need = max(1, self.starts[min(char_of[left] + best, len(self.starts) - 1)] - j) if best else 1
        if need > reach:
            return
        lo, hi = self._prefix_range(j, need)
        found = np.asarray(index.suffixes[lo:hi], dtype=np.int64)
        back = np.zeros(len(found), dtype=np.int64)  # matching bytes just before each suffix, up to gap - 1
        alive = np.ones(len(found), dtype=bool)
        for d in range(1, j - left + 1):
            alive &= (found >= d) & (index.bytes[np.maximum(found - d, 0)] == s[j - d])
            back += alive
        reachable = np.asarray(char_of)[j + reach] - np.asarray(char_of)[j - back]  # bound from above, per suffix
        for k in np.argsort(-reachable, kind="stable")[:CANDIDATES]:
            if reachable[k] < self.best[0]:
                break
            self._try(j, int(found[k]))

    def _insertion(self, j: int) -> int:
        query, text = self.s[j:], self.index.text
        width = len(query)
        return bisect.bisect_left(self.index.suffixes, query, key=lambda p: text[p : p + width])

    def _prefix_range(self, j: int, width: int) -> tuple[int, int]:
        prefix, text, suffixes = self.s[j : j + width], self.index.text, self.index.suffixes
        key = lambda p: text[p : p + width]  # noqa: E731
        lo = bisect.bisect_left(suffixes, prefix, key=key)
        return lo, bisect.bisect_right(suffixes, prefix, lo=lo, key=key)

    def _try(self, j: int, p: int) -> int:
        """Keep the match through sample offset j and corpus offset p, extended both ways and cut to whole
        characters, when it is the best so far; returns its forward length in bytes."""
        s, text = self.s, self.index.text
        forward = _common_prefix(s[j:], text[p : p + len(s) - j])
        back = _common_suffix(s[:j], text[max(0, p - j) : p])
        first, end = j - back, j + forward
        start_char, end_char = self.char_of[first], self.char_of[end]
        if end < len(s) and s[end] & 0xC0 == 0x80:
            end_char -= 1  # the match ends inside a character: that character is not shared
        length = end_char - start_char
        if length > self.best[0] or (length == self.best[0] and length and start_char < self.best[1]):
            self.best = (length, start_char)
        return forward


def _common_prefix(a: bytes, b: bytes) -> int:
    # Binary search on the length with slice comparisons: runs in C, unlike a byte loop.
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _sparse_suffixes(text: np.ndarray, stride: int) -> np.ndarray:
    """Sorted start offsets of the indexed suffixes: the first character start in each block of `stride` bytes,
    and the start of every document (a copy from a document's first character is found whatever its length).
    Separators are never indexed."""
    # lazy: pydivsufsort takes ~70 ms to import, and only this path needs it
    from pydivsufsort import divsufsort

    n = len(text)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    dtype = np.uint32 if n < 2**32 else np.uint64
    keep = ((text & 0xC0) != 0x80) & (text != 0)  # character starts, separators left out
    if stride > 1:
        doc_starts = np.flatnonzero(text[:-1] == 0) + 1
        keep = _first_per_block(keep, stride)
        keep[doc_starts[text[doc_starts] != 0]] = True
    suffixes = divsufsort(text if text.flags.writeable else text.copy())
    chunk = 1 << 24  # filter in slices, so the mask of the whole array never exists
    return np.concatenate([part[keep[part]].astype(dtype) for part in np.split(suffixes, range(chunk, n, chunk))])


def _first_per_block(marks: np.ndarray, stride: int) -> np.ndarray:
    """Of the marked offsets, only the first in each block of `stride` bytes."""
    rows = np.zeros(-(-len(marks) // stride) * stride, dtype=bool)
    rows[: len(marks)] = marks
    rows = rows.reshape(-1, stride)
    first = rows.argmax(axis=1)
    hit = np.flatnonzero(rows[np.arange(len(rows)), first])
    out = np.zeros_like(marks)
    out[hit * stride + first[hit]] = True
    return out


def open_index(dataset: Path, stride: int = STRIDE) -> CorpusIndex:
    """The dataset's memorization index, built first when missing or older than its `data.jsonl`.

    A dataset folder the lab may not write to (a read-only data root) gets its index in a temporary folder,
    removed at once: the open memory maps keep the files alive as long as the index is used.
    """
    folder = Path(dataset) / INDEX_DIR
    try:
        if not _is_current(folder, Path(dataset), stride):
            try:
                build(Path(dataset), stride)
            except PermissionError:
                scratch = Path(tempfile.mkdtemp(prefix="quill-memorization-"))
                try:
                    _write(scratch / "index", Path(dataset), stride)
                    return CorpusIndex.load(scratch / "index")
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
        return CorpusIndex.load(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # unreadable or malformed data.jsonl, a full disk
        raise UserError.coded("memorization_index", dataset=dataset, reason=exc) from exc


def build(dataset: Path, stride: int = STRIDE) -> Path:
    """Write `<dataset>/index/memorization/` (staged beside it and renamed into place); returns the folder."""
    folder = Path(dataset) / INDEX_DIR
    with staged_directory(folder, _foreign) as staging:
        _write(staging, Path(dataset), stride)
    return folder


def _write(folder: Path, dataset: Path, stride: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source = dataset / "data.jsonl"
    stamp = _stamp(source)  # before reading: a change while we read makes the index look stale, never current
    with source.open(encoding="utf-8") as lines, (folder / "text.bin").open("wb") as out:
        out.write(_SEP)
        for line in lines:
            if line.strip():
                out.write(json.loads(line)["text"].encode("utf-8") + _SEP)
    text = np.fromfile(folder / "text.bin", dtype=np.uint8)
    np.save(folder / "suffixes.npy", _sparse_suffixes(text, stride))
    meta = {"format": FORMAT, "stride": stride, "source": stamp, "text_bytes": len(text)}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def _is_current(folder: Path, dataset: Path, stride: int) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return (
            meta["format"] == FORMAT and meta["stride"] == stride and meta["source"] == _stamp(dataset / "data.jsonl")
            and (folder / "text.bin").stat().st_size == meta["text_bytes"] and (folder / "suffixes.npy").is_file()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _foreign(folder: Path) -> list[str]:
    """Entries of an index folder that `build` did not write (such a folder is never replaced)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in _FILES or not p.is_file())
