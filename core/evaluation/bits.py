"""Bits per character (and per UTF-8 byte): a model's quality on held-out text in units no tokenizer decides.

    bits per character = total negative log-likelihood (nats) over the text / its characters / ln 2

Perplexity per token rewards a tokenizer that cuts text into more, easier pieces; per character, a starter run, a
fitted-tokenizer run and a gpt2 run on the same text are compared fairly. The live curve, the runs table, the sweep
objective, `eval --json` and the model card all call `bits_per_character` here.

The characters of a stretch of tokens are counted exactly from each token's bytes: a token's characters are the UTF-8
lead bytes (not 10xxxxxx) it holds, so a character split over two byte-level tokens counts once, in the token that
starts it, and special tokens (eos between documents) count none. Plain Python and numpy: no torch here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from core.text import byte_chars

LN2 = math.log(2)
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # a byte-fallback token (sentencepiece, tokenizers' BPE)


def bits_per_character(total_nll_nats: float, characters: int) -> float | None:
    """Total NLL in nats over a text / its characters / ln 2. None when there is no character to score."""
    return total_nll_nats / characters / LN2 if characters > 0 else None


def bits_per_byte(total_nll_nats: float, utf8_bytes: int) -> float | None:
    return total_nll_nats / utf8_bytes / LN2 if utf8_bytes > 0 else None


def scores(mean_nll: float, tokens: int, characters: int, utf8_bytes: int) -> dict:
    """The per-character and per-byte figures of a mean loss over `tokens` predicted tokens that cover this text."""
    total = mean_nll * tokens
    return {"bits_per_char": bits_per_character(total, characters), "bits_per_byte": bits_per_byte(total, utf8_bytes),
            "characters": characters, "utf8_bytes": utf8_bytes}


@dataclass(frozen=True)
class HeldOut:
    """What a validation set's predicted tokens spell: enough to turn any mean loss over it into bits per character."""

    tokens: int
    characters: int
    utf8_bytes: int

    def scores(self, mean_nll: float) -> dict:
        return scores(mean_nll, self.tokens, self.characters, self.utf8_bytes)

    def bits_per_char(self, mean_nll: float | None) -> float | None:
        return None if mean_nll is None else bits_per_character(mean_nll * self.tokens, self.characters)


class TokenText:
    """How many characters and UTF-8 bytes each token id of a tokenizer stands for (one table per tokenizer)."""

    def __init__(self, tokenizer):
        size = len(tokenizer)
        self.chars = np.zeros(size, dtype=np.int64)
        self.bytes = np.zeros(size, dtype=np.int64)
        special = set(tokenizer.all_special_ids)
        to_bytes = _token_bytes(tokenizer)
        for index, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(size)))):
            if index in special or token is None:
                continue
            raw = to_bytes(token)
            self.bytes[index] = len(raw)
            self.chars[index] = sum(1 for b in raw if b & 0xC0 != 0x80)  # lead bytes: one per character

    def count(self, ids) -> tuple[int, int]:
        """(characters, UTF-8 bytes) of a sequence of token ids."""
        ids = np.asarray(ids, dtype=np.int64)
        return int(self.chars[ids].sum()), int(self.bytes[ids].sum())

    def predicted_in_stream(self, stream, block_size: int, first: int, count: int) -> tuple[int, int]:
        """(characters, bytes) predicted in `count` packed blocks of a memory-mapped token stream, from block `first`
        (the trainer's validation blocks), in one vectorised pass over the stream."""
        ids = np.asarray(stream[first * block_size:(first + count) * block_size], dtype=np.int64)
        ids = ids.reshape(count, block_size)[:, 1:]
        return int(self.chars[ids].sum()), int(self.bytes[ids].sum())

    def predicted(self, blocks) -> tuple[int, int]:
        """(characters, bytes) of the tokens a causal model predicts in packed blocks: all but each block's first."""
        chars = nbytes = 0
        for block in blocks:
            c, b = self.count(np.asarray(block)[1:])
            chars, nbytes = chars + c, nbytes + b
        return chars, nbytes


def _token_bytes(tokenizer):
    """A function from a vocabulary entry to the bytes it decodes to. Byte-level BPE (GPT-2's) spells bytes as
    printable characters (bytes_to_unicode); byte-fallback vocabularies spell a lone byte as <0xNN>; anything else is
    the token's text as the tokenizer decodes it alone."""
    decoder = tokenizer.backend_tokenizer.decoder if getattr(tokenizer, "is_fast", False) else None
    if decoder is not None and "ByteLevel" in type(decoder).__name__ + decoder.__getstate__().decode(errors="ignore"):
        unicode_to_byte = {c: b for b, c in byte_chars().items()}
        return lambda token: bytes(unicode_to_byte[c] for c in token if c in unicode_to_byte)

    def plain(token: str) -> bytes:
        byte = _BYTE_TOKEN.fullmatch(token)
        if byte:
            return bytes([int(byte.group(1), 16)])
        return tokenizer.convert_tokens_to_string([token]).encode("utf-8")

    return plain
