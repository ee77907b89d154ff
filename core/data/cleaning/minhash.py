"""MinHash signatures of many documents at once, with numpy: the shingles of `corpus_steps.shingles`, hashed
without making a Python object per shingle.

Each shingle is a string (five lower-cased words joined by single spaces, or five CJK characters with the
whitespace removed; the whole sequence when shorter). Its hash is a polynomial over its code points, read off
prefix sums of the whole batch (mod 2^64, where P is odd and so invertible), then avalanched with the MurmurHash3
64-bit finalizer and folded to 32 bits. The signature is datasketch's "affine32" one: per permutation,
min(a * h + b) in uint32 with datasketch's own (a, b) for the seed, as datasketch's `MinHash` computes it. This replaces a Python set of encoded shingles and a `zlib.crc32` call per shingle (5 MB/s per core, most
of the default recipe's time) with array arithmetic; the estimate is the same kind of estimate of the same Jaccard
similarity, though not bit for bit the same number as before.

Written by hand because datasketch and rensa both take one Python object per shingle, which is the cost here.
"""

from __future__ import annotations

import numpy as np

from core.data.cleaning.charclass import Batch, code_points, flags, table
from core.text import CJK_WORD_RANGES

SHINGLE_SIZE = 5
CJK_DOMINANT_FRACTION = 0.3  # above this share of CJK characters (whitespace not counted), shingle by characters
# Code points hashed together: big enough to amortise numpy calls, small enough that the batch's arrays (and the
# powers of P, 8 bytes per code point) stay in the CPU's cache: 1 M took 79 ms per 2 M characters, 128 K 66.
BATCH_CHARS = 1 << 17
PERMUTATION_ROWS = 16384  # shingles permuted at once (an 8 MB block of uint32 for 128 permutations)

_P = np.uint64(0x100000001B3)  # odd: invertible mod 2^64
_LENGTH_MIX = np.uint64(0x9E3779B97F4A7C15)
_MASK32 = np.uint64(0xFFFFFFFF)


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code point: is it `\\w`, `\\s` (as Python's re sees them) and CJK."""
    return table(r"\w"), table(r"\s"), table(f"[{CJK_WORD_RANGES}]")  # Han, kana, hangul: see core.text


_POWERS = [np.ones(1, np.uint64), np.ones(1, np.uint64)]  # P^k and P^-k mod 2^64, grown on demand


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^k and P^-k mod 2^64 for k < n."""
    if len(_POWERS[0]) < n:
        n = 1 << int(n - 1).bit_length()  # grow by doubling: a few computations per process
        inverse = np.uint64(pow(int(_P), -1, 1 << 64))
        for slot, base in enumerate((_P, inverse)):
            _POWERS[slot] = np.cumprod(np.concatenate(([np.uint64(1)], np.full(n - 1, base, dtype=np.uint64))),
                                       dtype=np.uint64)
    return _POWERS[0], _POWERS[1]


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def substring_hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """32-bit hashes of the strings codes[starts[i]:ends[i]]."""
    powers, inverses = _powers(len(codes) + 1)
    prefix = np.concatenate(([np.uint64(0)], np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * powers[: len(codes)],
                                                       dtype=np.uint64)))
    h = (prefix[ends] - prefix[starts]) * inverses[starts]
    h = _fmix64(h ^ ((ends - starts).astype(np.uint64) * _LENGTH_MIX))
    return ((h ^ (h >> np.uint64(32))) & _MASK32).astype(np.uint32)


def _spans(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each document in the texts joined by one separator."""
    starts = np.concatenate(([0], np.cumsum(lengths[:-1] + 1))).astype(np.int64) if len(lengths) else np.zeros(0, np.int64)
    return starts, starts + lengths


def _windows(owner: np.ndarray, first: np.ndarray, last: np.ndarray, docs: int) -> tuple:
    """Shingles over a sequence of units (words or characters), each unit owned by a document: unit i starts a
    window of SHINGLE_SIZE units when they all belong to its document; a document with 1..SHINGLE_SIZE units is
    one window of all of them. Returns (document, first unit, last unit) of each window."""
    n, size = len(owner), SHINGLE_SIZE
    per_doc = np.bincount(owner, minlength=docs)
    i = np.arange(max(0, n - size + 1))
    full = i[(owner[i] == owner[i + size - 1]) & (per_doc[owner[i]] > size)] if n >= size else i
    short = np.flatnonzero((per_doc > 0) & (per_doc <= size))
    doc_first = np.concatenate(([0], np.cumsum(per_doc)[:-1]))
    docs_out = np.concatenate((owner[full], short))
    units_from = np.concatenate((full, doc_first[short]))
    units_to = np.concatenate((full + size - 1, doc_first[short] + per_doc[short] - 1))
    return docs_out, first[units_from], last[units_to]


def shingle_hashes(texts: list[str]) -> list[np.ndarray]:
    """The 32-bit hashes of each document's shingles (with repeats: a minimum does not mind them)."""
    out: list[np.ndarray] = [np.zeros(0, np.uint32)] * len(texts)
    batch, size = [], 0
    for i, text in enumerate(texts):
        batch.append(i)
        size += len(text) + 1
        if size >= BATCH_CHARS or i == len(texts) - 1:
            for doc, hashes in zip(batch, _batch_hashes([texts[j] for j in batch])):
                out[doc] = hashes
            batch, size = [], 0
    return out


def _batch_hashes(texts: list[str]) -> list[np.ndarray]:
    batch = Batch(texts)
    classes = flags(r"\s", f"[{CJK_WORD_RANGES}]")[batch.codes]  # one lookup for both
    letters = (batch.ends - batch.starts) - batch.count((classes & 1).astype(bool))
    hans = batch.count((classes & 2).astype(bool))
    dominant = (letters > 0) & (hans / np.maximum(letters, 1) > CJK_DOMINANT_FRACTION)
    results: list[np.ndarray] = [np.zeros(0, np.uint32)] * len(texts)
    for chosen, hasher in ((np.flatnonzero(dominant), _character_shingles), (np.flatnonzero(~dominant), _word_shingles)):
        if len(chosen):
            docs, hashes = hasher([texts[i] for i in chosen])
            order = np.argsort(docs, kind="stable")
            cuts = np.searchsorted(docs[order], np.arange(len(chosen) + 1))
            for k, doc in enumerate(chosen):
                results[doc] = hashes[order[cuts[k] : cuts[k + 1]]]
    return results


def _character_shingles(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """SHINGLE_SIZE consecutive characters, whitespace removed (CJK text has no spaces between words)."""
    _, space, _ = _tables()
    codes = code_points("\x00".join(texts))
    starts, ends = _spans(np.array([len(t) for t in texts], dtype=np.int64))
    in_doc = np.ones(len(codes), dtype=bool)
    in_doc[ends[:-1]] = False  # the separators
    keep = np.flatnonzero(in_doc & ~space[codes])
    kept = codes[keep]
    owner = np.searchsorted(starts, keep, side="right") - 1
    units = np.arange(len(kept))
    docs, first, last = _windows(owner, units, units, len(texts))
    return docs, substring_hashes(kept, first, last + 1)


def _word_shingles(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """SHINGLE_SIZE consecutive lower-cased words (`\\w+` runs) joined by single spaces."""
    word, _, _ = _tables()
    lowered = [t.lower() for t in texts]
    codes = code_points("\x00".join(lowered))  # the separator is not \w: no word spans two documents
    starts, _ = _spans(np.array([len(t) for t in lowered], dtype=np.int64))
    is_word = word[codes]
    edges = np.diff(np.concatenate(([False], is_word, [False])).astype(np.int8))
    word_starts, word_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    owner = np.searchsorted(starts, word_starts, side="right") - 1
    # The words joined by single spaces, as one array: each word's characters, then a space.
    lengths = word_ends - word_starts
    joined_starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])) if len(lengths) else np.zeros(0, np.int64)
    joined = np.full(int(np.sum(lengths + 1)), 32, dtype=np.uint32)
    chars = np.flatnonzero(is_word)
    joined[chars - np.repeat(word_starts - joined_starts, lengths)] = codes[chars]
    docs, first, last = _windows(owner, joined_starts, joined_starts + lengths, len(texts))
    return docs, substring_hashes(joined, first, last)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's "affine32" permutations (a, b) for the seed, drawn as datasketch's MinHash draws them
    (tests/test_corpus_steps.py checks them against it): importing datasketch pulls in scipy, half a second per
    process, which the hashing workers and the start of near dedup would otherwise wait for."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)  # odd: a bijection
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def signatures(texts: list[str], num_perm: int, seed: int) -> list[np.ndarray]:
    """datasketch "affine32" MinHash values (uint32, num_perm of them) of each document's shingles; a document
    without shingles gets the empty signature (every value the maximum), as datasketch gives it."""
    return permuted_minimums(texts, *permutations(num_perm, seed))


def permuted_minimums(texts: list[str], a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Per document, min(a * h + b) over its shingle hashes h, per permutation (uint32 arithmetic, wrapping as
    datasketch's does). Short documents are stacked into blocks of up to PERMUTATION_ROWS shingles, so that
    they cost no numpy calls of their own (one reduceat takes each one's minimum); a long one goes alone, in
    slices of that many rows."""
    empty = np.full(len(a), np.iinfo(np.uint32).max, dtype=np.uint32)
    out = [empty] * len(texts)
    hashes = shingle_hashes(texts)
    group: list[int] = []
    rows = 0
    for doc in [d for d, h in enumerate(hashes) if len(h)] + [None]:  # None: flush the last group
        size = len(hashes[doc]) if doc is not None else 0
        if group and (doc is None or rows + size > PERMUTATION_ROWS):
            # Permutations along the rows and shingles along the columns: reduceat then runs along contiguous
            # memory (twice as fast as the transposed layout).
            block = a[:, None] * np.concatenate([hashes[d] for d in group])
            block += b[:, None]  # in place: one pass over the block less
            offsets = np.cumsum([0] + [len(hashes[d]) for d in group[:-1]])
            for d, values in zip(group, np.ascontiguousarray(np.minimum.reduceat(block, offsets, axis=1).T)):
                out[d] = values
            group, rows = [], 0
        if doc is None:
            break
        if size > PERMUTATION_ROWS:
            values = empty.copy()
            for at in range(0, size, PERMUTATION_ROWS):
                np.minimum(values, (hashes[doc][at : at + PERMUTATION_ROWS, None] * a + b).min(axis=0), out=values)
            out[doc] = values
        else:
            group.append(doc)
            rows += size
    return out
