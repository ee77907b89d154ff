"""A UTF-8 text file read in chunks and cut into paragraphs or lines as it arrives, for loading large files.

Reading a file whole holds its bytes, its decoded text and the split copies at once (about 3x the file); read here,
memory holds the documents made so far and one chunk. The result is the one `core.data.decoding.decode` and the
whole-text split give: strict UTF-8 (with or without its byte-order mark), the same binary and empty-file checks,
universal newlines, the same paragraphs and line numbers. Anything else (another encoding, NUL bytes, an invalid
sequence) raises `NotStreamable`, and the caller reads the file whole, where the guessing lives.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from itertools import chain

from core.data.decoding import CONTROL_BYTES, CONTROL_CHARS, CONTROL_SHARE_LIMIT
from core.errors import UserError

# A blank line (it may hold spaces, or a full-width space) ends a paragraph; the next keeps its own indentation.
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
LEADING_BLANK_LINES = re.compile(r"^(?:[^\S\n]*\n)+")


class NotStreamable(Exception):
    """The file is not plain UTF-8: it needs the whole-file decoder."""


class Utf8Text:
    """The text of UTF-8 chunks, newline-normalized, piece by piece; `encoding` is known once it is read.

    Iterating it to the end raises UserError for a binary or empty file, as `decode` does, and NotStreamable when
    the bytes are not strict UTF-8 or hold a NUL.
    """

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = chunks
        self.encoding = "utf-8"

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")  # drops a leading byte-order mark only
        size = control_bytes = chars = control_chars = 0
        blank_bytes = blank_text = True
        head = b""  # the first bytes: a byte-order mark or not
        held = ""  # a "\r" at the end of a piece: the next piece may start with its "\n"
        for chunk in self.chunks:
            if size < len(codecs.BOM_UTF8):
                head += chunk[: len(codecs.BOM_UTF8) - size]
                self.encoding = "utf-8-sig" if head == codecs.BOM_UTF8 else "utf-8"
            if b"\x00" in chunk:
                raise NotStreamable("NUL bytes")
            size += len(chunk)
            control_bytes += len(chunk) - len(chunk.translate(None, CONTROL_BYTES))
            blank_bytes = blank_bytes and chunk.isspace()
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as e:
                raise NotStreamable(str(e)) from None
            chars += len(text)
            control_chars += len(CONTROL_CHARS.findall(text))
            blank_text = blank_text and (not text or text.isspace())
            text = held + text
            held = "\r" if text.endswith("\r") else ""
            yield _universal_newlines(text[:-1] if held else text)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:  # the file ends inside a character
            raise NotStreamable(str(e)) from None
        if held:
            yield "\n"
        # decode's checks, in its order: blank bytes, control bytes (not after a byte-order mark), control characters
        if blank_bytes:
            raise UserError("empty file")
        if self.encoding == "utf-8" and control_bytes > CONTROL_SHARE_LIMIT * size:
            raise UserError("binary file (not text)")
        if control_chars > CONTROL_SHARE_LIMIT * chars:
            raise UserError("binary file (not text)")
        if blank_text:
            raise UserError("empty file")


def _universal_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as open() in text mode reads them


def paragraphs(pieces: Iterable[str]) -> Iterator[str]:
    """The non-blank paragraphs of the text the pieces make up, as `PARAGRAPH_BREAK.split` over the whole text
    gives them: leading blank lines and trailing spaces dropped.

    A break is a run of whitespace holding two newlines, so one that reaches the end of a piece may go on in the
    next: the whitespace after the last visible character is held back and searched again with the next piece.
    """
    body: list[str] = []  # the open paragraph up to its last visible character
    tail = ""  # the whitespace after it
    for piece in pieces:
        text = tail + piece
        end = len(text)
        while end and text[end - 1].isspace():
            end -= 1
        start = 0
        for found in PARAGRAPH_BREAK.finditer(text, 0, end):
            body.append(text[start:found.start()])
            yield from _paragraph("".join(body))
            body, start = [], found.end()
        if end > start:
            body.append(text[start:end])
        tail = text[end:]
    yield from _paragraph("".join(body) + tail)


def _paragraph(piece: str) -> Iterator[str]:
    if piece and not piece.isspace():
        yield LEADING_BLANK_LINES.sub("", piece).rstrip()


def lines(pieces: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(1-based line number, the line without trailing spaces) of each non-blank line."""
    for number, line in enumerate(split_lines(pieces), 1):
        if line and not line.isspace():
            yield number, line.rstrip()


def split_lines(pieces: Iterable[str], keep_ends: bool = False) -> Iterator[str]:
    """The lines of a text with "\n" newlines given in pieces, as `text.split("\n")` gives them, less a last empty
    one; with `keep_ends`, each with its "\n", as a file opened with newline="" reads them. Only "\n" ends a line
    (str.splitlines would also cut at "\x0b", "\x1c" or "\u2028", which JSON strings and CSV cells may hold)."""
    return chain.from_iterable(_line_blocks(pieces, keep_ends))


def _line_blocks(pieces: Iterable[str], keep_ends: bool) -> Iterator[Iterable[str]]:
    """The complete lines of each piece, cut in one C call and handed on as one iterable: no Python step per line.
    A line longer than a piece is gathered in a list and joined once, not grown piece by piece."""
    open_line: list[str] = []  # the start of a line the pieces so far have not ended
    for piece in pieces:
        cut = piece.rfind("\n") + 1
        if not cut:
            open_line.append(piece)
            continue
        open_line.append(piece[:cut])
        block = "".join(open_line)
        open_line = [piece[cut:]]
        if keep_ends:
            yield io.StringIO(block, newline="\n")  # lines ended by "\n" only, kept as they are
        else:
            lines = block.split("\n")
            lines.pop()  # the empty rest after the block's last "\n"
            yield lines
    last = "".join(open_line)
    if last:
        yield [last]
