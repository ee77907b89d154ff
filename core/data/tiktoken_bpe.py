"""tiktoken's BPE as a twin of a Hugging Face byte-level BPE tokenizer of the GPT-2 kind: the same ids, ~4x faster.

The `tokenizers` encoder spends its time in the byte-level split and BPE (~3.5 MB of text per CPU-second here);
tiktoken's Rust BPE does the same work at ~14. It takes its vocabulary as `mergeable_ranks` (token bytes -> rank),
and where Hugging Face merges the pair that comes first in its merge list, tiktoken merges the pair whose
concatenation has the lowest rank. So each token's rank here is the place of the merge that first makes it (bytes
first), not its id, and a table maps ranks back to the tokenizer's ids: the two rules then pick the same merges for a
vocabulary learned by BPE. Not for every vocabulary (a token reachable through a pair that is not in the merge list,
or a word that is itself a token but that the merges do not build), so a twin is only used after it gave every id
of a probe exactly as the tokenizer does: the fixed multilingual PROBE here, once per tokenizer, and the first
megabyte of each dataset (core.data.tokens).
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from core.text import byte_chars

log = logging.getLogger(__name__)

# Hugging Face's ByteLevel pre-tokenizer regex (use_regex=true), as tiktoken writes GPT-2's (its `gpt2` encoding)
GPT2_SPLIT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CHUNK_CHARS = 500_000  # text per tiktoken call: several per batch, so every core's thread gets work to the end

# Where the regex engines (Oniguruma in tokenizers, fancy-regex in tiktoken) or the merge rules could part: scripts,
# letters that are not \p{L}-simple, emoji sequences, every kind of whitespace, digits of several systems,
# contractions, the end-of-text token inside a text, control characters.
PROBE = [
    "Hello, world! It's a test: we're here, they've gone, I'm sure you'll see what he'd say. IT'S LOUD'S.",
    "  leading spaces\tand\ttabs\r\nwindows lines\n\n\nblank lines   \n trailing   ",
    "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。 龍飛鳳舞 𠀀𠀁𪚥 〇一二三 「引號」『書名』……——",
    "日本語のテキスト、カタカナ・ひらがな。한국어 문장입니다. Русский текст, Ελληνικά, עברית, العربية ٣٤٥, हिन्दी नमस्ते",
    "emoji 🚀🔥 family 👨‍👩‍👧‍👦 flags 🇨🇳🇬🇧 skin 👍🏽 keycap 1️⃣ heart ❤️ text",
    "digits 0123456789 1,234.56 -42 3.14e10 full-width １２３ superscript x² roman Ⅻ fractions ½ ⅓",
    "odd spaces:\u00a0nbsp\u3000ideographic\u2009thin\u200bzero-width\u2028line\u2029para\u00adsoft\u0085nel",
    "form feed\x0cvertical tab\x0b\x1c\x1d\x1e\x1f separators \u1680 ogham \u202f narrow \u205f math",
    "combining: e\u0301 a\u0308 lone\u0301 \u0301start; ǅ ﬁ ligatures; Ǳ; ß ẞ; İı; café naïve coöperate",
    "code: def f(x):\n    return x**2  # comment\n\tif a != b and c <= d: print(f'{a!r}')\n<html><b>bold</b></html>",
    "end of text inside<|endoftext|>a document <|endoftext|> twice, and a near miss <|endoftext| <|end",
    "control \x00\x01\x1b[31m red \x7f del \ufffd replacement \ufeff bom",
    "",
    " ",
    "'s 't 're 've 'm 'll 'd ''s '' x's",
    "mixed中文English混合123数字",
]


@dataclass(frozen=True)
class Twin:
    encoding: object  # tiktoken.Encoding: token bytes -> rank, the split regex, eos as its one special token
    ids: np.ndarray = field(repr=False)  # rank -> the tokenizer's id
    eos: str

    def encode(self, texts: list[str], dtype: np.dtype) -> np.ndarray:
        """Each text's ids, then eos, as one array of `dtype`. Texts are joined with eos between them and encoded in
        chunks on every core (tiktoken's Rust releases the GIL): the special token splits the text, so this is each
        text encoded alone, without a Python list per text."""
        chunks = list(_joined(texts, self.eos))
        workers = min(len(chunks), len(os.sched_getaffinity(0)))
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                ranks = list(pool.map(self._ranks, chunks))
        else:
            ranks = [self._ranks(chunk) for chunk in chunks]
        if not ranks:
            return np.zeros(0, dtype)
        return self.ids.astype(dtype, copy=False)[np.concatenate(ranks)]

    def _ranks(self, text: str) -> np.ndarray:
        return self.encoding.encode_to_numpy(text, allowed_special={self.eos})


def twin(tokenizer) -> Twin | None:
    """The tokenizer's tiktoken twin, or None (and a debug line saying why) when it cannot be one: not a byte-level
    BPE of the GPT-2 kind, or a probe text on which the two give different ids. Built once per tokenizer definition."""
    backend = tokenizer.backend_tokenizer
    if backend.encode_special_tokens:  # not in tokenizer.json: eos in a text is then encoded as text
        built, reason = None, "it encodes special tokens in texts as text"
    else:
        built, reason = _twin(backend.to_str(), tokenizer.eos_token)
    if reason:
        log.debug("tokenizing with tokenizers, not tiktoken: %s", reason)
    return built


@lru_cache(maxsize=4)
def _twin(definition: str, eos: str | None) -> tuple[Twin | None, str | None]:
    # lazy: tokenizers takes ~10 ms to import, and only this path needs it
    from tokenizers import Tokenizer

    spec = json.loads(definition)
    reason = unsupported(spec, eos)
    if reason:
        return None, reason
    built = _build(spec, eos)
    reference = Tokenizer.from_str(definition)
    expected = [[*e.ids, built.ids[-1]] for e in reference.encode_batch_fast(PROBE, add_special_tokens=False)]
    if built.encode(PROBE, np.dtype(np.uint32)).tolist() != [i for ids in expected for i in ids]:
        return None, "the two give different ids on the probe texts"
    return built, None


def unsupported(spec: dict, eos: str | None) -> str | None:
    """Why a tokenizer.json is not a byte-level BPE that tiktoken can mirror, or None when it is."""
    model, pre, added = spec.get("model") or {}, spec.get("pre_tokenizer") or {}, spec.get("added_tokens") or []
    if model.get("type") != "BPE" or model.get("dropout") or model.get("continuing_subword_prefix") \
            or model.get("end_of_word_suffix"):
        return "its model is not a plain BPE"
    if spec.get("normalizer") or spec.get("truncation"):
        return "it normalizes or truncates text"
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True) or pre.get("add_prefix_space"):
        return "its pre-tokenizer is not GPT-2's byte-level split"
    if eos is None or [a["content"] for a in added] != [eos] or any(a[k] for a in added for k in ("lstrip", "rstrip",
                                                                                                   "single_word")):
        return "its added tokens are not the end-of-text token alone"

    if not set(byte_chars().values()) <= model.get("vocab", {}).keys():
        return "its vocabulary lacks some of the 256 byte tokens"
    if any(eos[:i] == eos[-i:] for i in range(1, len(eos))):
        return "its end-of-text token overlaps itself, so texts cannot be joined by it"
    return None


def _build(spec: dict, eos: str) -> Twin:
    # lazy: tiktoken takes ~20 ms to import, and only this path needs it
    import tiktoken

    vocab = spec["model"]["vocab"]
    char_byte = {c: b for b, c in byte_chars().items()}
    ranks = {bytes([b]): b for b in range(256)}  # bytes first: they are never made by a merge
    ids = [vocab[byte_chars()[b]] for b in range(256)]
    for merge in spec["model"]["merges"]:
        left, right = merge.split(" ") if isinstance(merge, str) else merge  # tokenizers' old and new merge format
        token = bytes(char_byte[c] for c in left + right)
        if token not in ranks:
            ranks[token] = len(ranks)
            ids.append(vocab[left + right])
    special = {eos: len(ranks)}
    ids.append(next(a["id"] for a in spec["added_tokens"] if a["content"] == eos))
    encoding = tiktoken.Encoding(f"hf-{id(spec):x}", pat_str=GPT2_SPLIT, mergeable_ranks=ranks,
                                 special_tokens=special)
    return Twin(encoding, np.asarray(ids, dtype=np.uint32), eos)


def _joined(texts: list[str], eos: str):
    """The texts, each followed by eos, in strings of about CHUNK_CHARS."""
    chunk, size = [], 0
    for text in texts:
        chunk += (text, eos)
        size += len(text)
        if size >= CHUNK_CHARS:
            yield "".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield "".join(chunk)
