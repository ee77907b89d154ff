"""Tokens as text: the bytes each token stands for, a label that shows a token as it is, and decoding a growing
row of tokens into text without ever showing half a character.

Byte-level BPE (GPT-2, the starter) has tokens for single bytes and byte pieces: one token may hold part of a
multi-byte character, and `tokenizer.decode([id])` shows such a piece as "�" (several different pieces alike).
"""

from __future__ import annotations

import codecs
import re
import weakref
from functools import lru_cache

from core.text import byte_chars

_BYTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")  # SentencePiece's byte-fallback tokens already look like this


def _hex_bytes(error: UnicodeDecodeError) -> tuple[str, int]:
    return "".join(f"<0x{b:02X}>" for b in error.object[error.start : error.end]), error.end


codecs.register_error("quill-hex", _hex_bytes)


@lru_cache(maxsize=1)
def _char_byte() -> dict[str, int]:
    return {char: byte for byte, char in byte_chars().items()}


def is_byte_level(tokenizer) -> bool:
    """True for a tokenizer whose tokens are byte strings written in GPT-2's byte characters."""
    # lazy: tokenizers takes ~10 ms to import, and only this path needs it
    from tokenizers import decoders

    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and isinstance(backend.decoder, decoders.ByteLevel)


def token_bytes(tokenizer) -> list[bytes] | None:
    """The bytes of every token id of a byte-level tokenizer (b"" for special tokens); None for other kinds,
    whose tokens are whole text. Computed once per tokenizer."""
    if not is_byte_level(tokenizer):
        return None
    if tokenizer not in _BYTES:
        char_byte, special = _char_byte(), set(tokenizer.all_special_ids)
        added = {i: t.content for i, t in tokenizer.added_tokens_decoder.items()}
        pieces = []
        for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
            if token_id in special or token is None:
                pieces.append(b"")
            elif token_id in added:  # an added token is kept as written, not in byte characters
                pieces.append(added[token_id].encode("utf-8"))
            else:
                pieces.append(bytes(char_byte[c] for c in token))
        _BYTES[tokenizer] = pieces
    return _BYTES[tokenizer]


def token_label(tokenizer, token_id: int) -> str:
    """A token as a person should see it: its text, with each byte that is not a whole character on its own
    written `<0xE6>`, so no token shows as "�" and two different tokens never look the same."""
    pieces = token_bytes(tokenizer)
    if pieces is not None and token_id < len(pieces) and token_id not in tokenizer.all_special_ids:
        return pieces[token_id].decode("utf-8", errors="quill-hex")
    token = tokenizer.convert_ids_to_tokens(token_id)
    if isinstance(token, str) and (_BYTE_TOKEN.fullmatch(token) or token_id in tokenizer.all_special_ids):
        return token
    return tokenizer.decode([token_id])


class TextStream:
    """One row's text as its tokens arrive: `push` returns only whole characters, holding back the first bytes of
    a character until the rest arrives (an incremental UTF-8 decoder over the tokens' bytes). Tokenizers that are
    not byte-level decode the whole row instead, holding back a trailing "�", and only when `live` (a quadratic
    cost that only streaming needs)."""

    def __init__(self, tokenizer, live: bool = True):
        self.tokenizer, self.pieces, self.live = tokenizer, token_bytes(tokenizer), live
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.ids: list[int] = []
        self.sent = ""

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        if self.pieces is not None:
            piece = self.decoder.decode(self.pieces[token_id] if token_id < len(self.pieces) else b"")
        elif not self.live:
            return ""
        else:
            text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
            text = text.removesuffix("\ufffd")
            piece = text[len(self.sent) :] if text.startswith(self.sent) else ""
        self.sent += piece
        return piece

    @property
    def pending(self) -> bytes:
        """The first bytes of a character not yet complete (empty at a character boundary)."""
        return self.decoder.getstate()[0] if self.pieces is not None else b""

    def text(self) -> str:
        """The row's text, special tokens left out; a character cut off at the end is left out too."""
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        return text.removesuffix("\ufffd") if self.pending else text
