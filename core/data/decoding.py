"""Bytes to text for the loader: byte-order mark, UTF-8, an HTML page's declared charset, then a guess.

A file that cannot be text is refused with a reason. A guess that may be wrong is kept, and says so in its
`warning`, which the Data page's file table and `python -m core clean` show: a wrong guess is never silent.
"""

from __future__ import annotations

import codecs
import re
from functools import cache
from typing import NamedTuple

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

from core.errors import UserError
from core.text import is_han

# Byte-order marks, longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
CHINESE_CODECS = {"gb2312", "gbk", "gb18030", "hz", "big5", "big5hkscs", "cp950"}
# Below this size charset-normalizer's guesses for Chinese bytes scatter over Korean, Japanese and Thai code pages
# (one or two lines of GBK come back as cp949 or cp874 about half the time), so short, mostly non-ASCII input
# is also tried as GB18030 and Big5. On longer input its guesses were right every time we measured.
SHORT_INPUT_BYTES = 1024
CONTROL_SHARE_LIMIT = 0.05  # text with more control characters than this is a binary file that happened to decode
# A few NUL bytes in otherwise good text are damage (a template bug, a bad copy): real pages have them, e.g.
# lostiempos.com-juicio.html in trafilatura's evaluation set holds 11 after an <img> tag. UTF-16 text without a
# byte-order mark has far more (one per ASCII character), and a binary file has more control bytes than text allows.
STRAY_NUL_SHARE = 0.01
# Invalid sequences allowed in a file read as UTF-8 with replacement characters, as a share of its non-ASCII
# characters: a UTF-8 file with a stray cp1252 byte or a cut-off last character is UTF-8, not cp1250 mojibake.
# Legacy code pages (GBK, cp1252) almost never form valid UTF-8 sequences, so their share is far higher.
BAD_UTF8_SHARE = 0.2
# charset-normalizer matches this close to its best one read the bytes differently with about as much plausibility.
TIE_CHAOS = 0.01
TIE_COHERENCE = 0.1
# Chinese readings whose misreading scores are this close are a coin toss: on 60 one-line poems in GBK and in Big5,
# the one line read wrongly was within it, and one right line.
CJK_SCORE_MARGIN = 0.1
# A NUL-free file read as UTF-16 is text when more than this share of its letters are common hanzi (its mess ratio
# taken off): Chinese verse and prose score ~0.95-1.0, binary bytes read as UTF-16 below 0.3.
WIDE_HANZI_SHARE = 0.5
MESS_SAMPLE_CHARS = 65536  # a sample tells codecs apart as well as the whole text does, and fast
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # category Cc, less tab, newlines, form feed
CONTROL_BYTES = bytes([*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F])
COUNT_CHUNK = 1 << 20  # control bytes are counted a chunk at a time: translate() copies what it is given
# The charset an HTML page declares in its first bytes (the WHATWG prescan looks at 1024; pages often put a long
# comment first, as lostiempos.com's theme debug output does). Hand-written: charset-normalizer's
# `any_specified_encoding` also matches "coding" anywhere in the text and is not its public API.
META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
DECLARATION_BYTES = 8192
# Browsers read these labels as a superset (WHATWG Encoding Standard, "Encodings" table); so does the lab, or the
# curly quotes of a page declared "iso-8859-1" would come out as control characters.
WHATWG_SUPERSETS = {
    "iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs",
    "iso8859-9": "cp1254", "tis-620": "cp874", "iso8859-11": "cp874", "euc_kr": "cp949",
    "utf-16": "utf-8", "utf-16-le": "utf-8", "utf-16-be": "utf-8",  # a meta tag read as ASCII cannot be UTF-16
}
# The rest of the encodings a browser knows, by their python names. Nothing else is taken from a page: python's
# "codecs" also include unicode_escape, rot13 and zlib, which are no charset.
WEB_CODECS = {
    *WHATWG_SUPERSETS.values(), "utf-8", "cp866", "koi8-r", "koi8-u", "mac-roman", "euc_jp", "iso2022_jp",
    "shift_jis", *(f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
    *(f"cp{n}" for n in range(1250, 1259)),
}


class Decoded(NamedTuple):
    text: str
    encoding: str  # normalized python codec name: "utf-8", "utf-8-sig", "utf-16", "gb18030", "cp1252", ...
    warning: str | None = None  # why the reading may be wrong or was repaired, for a person


def _codec_name(name: str) -> str:
    """charset-normalizer says "utf_16_le"; people and the rest of the lab read "utf-16-le"."""
    return codecs.lookup(name).name


def _strict(data: bytes, encoding: str) -> Decoded | None:
    try:
        return Decoded(data.decode(encoding), encoding)
    except UnicodeDecodeError:
        return None


def _check_text(text: str) -> None:
    """A decode that 'worked' can still be a binary file: many control characters give it away."""
    if len(CONTROL_CHARS.findall(text)) > CONTROL_SHARE_LIMIT * len(text):
        raise UserError("binary file (not text)")
    if not text or text.isspace():  # not text.strip(), which copies the whole text
        raise UserError("empty file")


@cache
def _is_common_hanzi(ch: str) -> bool:
    """A CJK ideograph in GB2312 (the common simplified set) or in Big5 level 1 (the common traditional set)."""
    if not is_han(ch):  # GB2312 and Big5 hold ideographs of the basic block only
        return False
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        pass
    try:
        return 0xA4 <= ch.encode("big5")[0] <= 0xC6  # Big5 level 1 (frequent characters) has lead bytes A4-C6
    except UnicodeEncodeError:
        return False


def _misreading_score(text: str) -> float:
    """Lower is more plausible: charset-normalizer's mess ratio, less the share of letters that are common hanzi.

    Misread Chinese is made of rare ideographs, Hangul, Thai or kana; the mess ratio sees that on long text
    but is ~0 for everything on a line or two, where the common-hanzi share still tells the readings apart.
    """
    sample = text[:MESS_SAMPLE_CHARS]
    letters = [ch for ch in sample if ord(ch) > 127 and ch.isalpha()]
    common = sum(map(_is_common_hanzi, letters)) / len(letters) if letters else 0.0
    return mess_ratio(sample, maximum_threshold=1.0) - common


def _low_confidence(encoding: str, others: list[str]) -> str:
    listed = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return f"encoding guessed as {encoding} with low confidence ({listed} would read it differently)"


def _with_mojibake_check(guess: Decoded) -> Decoded:
    """A guess that reads as mojibake (cafÃ©) to ftfy's detector is flagged, however sure charset-normalizer was."""
    # lazy: ftfy takes ~60 ms to import, and only this path needs it
    import ftfy.badness

    if not ftfy.badness.is_bad(guess.text[:MESS_SAMPLE_CHARS]):
        return guess
    if guess.warning:
        return guess._replace(warning=f"{guess.warning}; the text looks like mojibake")
    return guess._replace(warning=f"encoding guessed as {guess.encoding}, and the text looks like mojibake")


def _guess(data: bytes) -> Decoded | None:
    """Ask charset-normalizer, then arbitrate between readings it cannot tell apart, and say when it could not."""
    matches = from_bytes(data)
    best = matches.best()
    high_share = len(data.translate(None, bytes(range(128)))) / len(data)  # share of non-ASCII bytes
    short_and_foreign = len(data) < SHORT_INPUT_BYTES and high_share >= 0.3
    if best is not None and _codec_name(best.encoding) not in CHINESE_CODECS and not short_and_foreign:
        # A clear non-Chinese guess (long cp1252, koi8-r, long Korean ...) is kept as is. Near-ties are short input
        # with a few accented letters: browsers fall back to windows-1252 for undeclared legacy pages, so do we.
        ties = [m for m in matches if m is not best and m.chaos <= best.chaos + TIE_CHAOS
                and m.coherence >= best.coherence - TIE_COHERENCE]
        if not ties:
            return _with_mojibake_check(Decoded(str(best), _codec_name(best.encoding)))
        chosen = next((m for m in [best, *ties] if "cp1252" in m.could_be_from_charset), best)
        others = [_codec_name(m.encoding) for m in [best, *ties] if m is not chosen]
        warning = _low_confidence(_codec_name(chosen.encoding), others)
        return _with_mojibake_check(Decoded(str(chosen), _codec_name(chosen.encoding), warning))
    # Big5 bytes often decode as GB18030 too, into rare-character garbage; GBK bytes sometimes decode as Big5.
    # The most plausible reading wins; ties go to GB18030, then Big5, then charset-normalizer's own guess.
    guess = Decoded(str(best), _codec_name(best.encoding)) if best is not None else None
    candidates = [c for c in (_strict(data, "gb18030"), _strict(data, "big5"), guess) if c]
    if not candidates:
        return None
    scored = sorted(((_misreading_score(c.text), i, c) for i, c in enumerate(candidates)), key=lambda s: s[:2])
    (best_score, _, winner), rest = scored[0], scored[1:]
    rivals = [c.encoding for score, _, c in rest if score - best_score < CJK_SCORE_MARGIN and c.text != winner.text]
    return winner._replace(warning=_low_confidence(winner.encoding, rivals)) if rivals else winner


def _mostly_utf8(data: bytes) -> Decoded | None:
    """UTF-8 with a few invalid sequences (a stray cp1252 byte, a cut-off last character), read with U+FFFD for them."""
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    bad = replaced - data.count("\ufffd".encode())  # minus the replacement characters the file itself holds
    good = len(text) - len(text.encode("ascii", errors="ignore")) - replaced  # valid multi-byte characters
    if not good or bad > BAD_UTF8_SHARE * (good + bad):
        return None
    plural = "s" if bad > 1 else ""
    return Decoded(text, "utf-8", f"{bad} invalid UTF-8 sequence{plural} replaced by \ufffd")


def declared_charset(data: bytes) -> tuple[str, str] | None:
    """(label, python codec) of the charset an HTML page declares in a <meta> tag, the codec as a browser reads it."""
    found = META_CHARSET.search(data[:DECLARATION_BYTES])
    if not found:
        return None
    label = found.group(1).decode("ascii")
    try:
        name = _codec_name(label)
    except LookupError:
        return None  # a label python does not know: guess, as if nothing were declared
    name = WHATWG_SUPERSETS.get(name, name)
    return (label, name) if name in WEB_CODECS else None


def _decode_8bit(data: bytes, html: bool) -> Decoded:
    """Bytes without NULs: UTF-8, mostly UTF-8, the page's declared charset, then a guess."""
    found = _strict(data, "utf-8") or _mostly_utf8(data)
    if found:
        return found
    declared = declared_charset(data) if html else None
    if declared:
        found = _strict(data, declared[1])
        if found:
            return found
    guess = _guess(data)
    if guess is None:
        raise UserError("could not decode: not UTF-8, UTF-16, GB18030 or Big5")
    if declared:
        mismatch = f"the page declares charset {declared[0]} but its bytes are not {declared[1]}"
        return guess._replace(warning=f"{mismatch}; {guess.warning or f'read as {guess.encoding}'}")
    return guess


def _wide(data: bytes) -> Decoded | None:
    """UTF-16 or UTF-32 without a byte-order mark (ASCII characters carry a zero byte)."""
    best = from_bytes(data, cp_isolation=["utf_16_le", "utf_16_be", "utf_32_le", "utf_32_be"]).best()
    return Decoded(str(best), _codec_name(best.encoding)) if best is not None else None


def _wide_hanzi(data: bytes) -> Decoded | None:
    """UTF-16/32 without a BOM whose reading is mostly common hanzi; None for anything else. A binary file can read
    as UTF-16 too, but as rare ideographs (a chunk of /usr/bin/ls: 26% common hanzi, a Chinese poem: 100%)."""
    wide = _wide(data)
    if wide is None or _misreading_score(wide.text) > -WIDE_HANZI_SHARE:
        return None
    _check_text(wide.text)
    return wide


def _control_bytes(data: bytes) -> int:
    chunks = (data[i : i + COUNT_CHUNK] for i in range(0, len(data), COUNT_CHUNK))
    return sum(len(chunk) - len(chunk.translate(None, CONTROL_BYTES)) for chunk in chunks)


def _narrow(data: bytes, html: bool) -> Decoded:
    """Bytes without NULs, checked for control bytes before any guess, and the text after it."""
    if _control_bytes(data) > CONTROL_SHARE_LIMIT * len(data):
        wide = _wide_hanzi(data)  # Chinese in UTF-16 without a BOM and without ASCII has no NUL but control bytes
        if wide is None:
            raise UserError("binary file (not text)")  # whatever a guess would make of it
        return wide
    found = _decode_8bit(data, html)
    _check_text(found.text)
    return found


def decode(data: bytes, html: bool = False) -> Decoded:
    """Bytes to text. `html`: honour a <meta charset>. Raises UserError (binary, empty, undecodable) for a person."""
    if not data or data.isspace():  # not data.strip(), which copies the whole file
        raise UserError("empty file")
    for bom, encoding in BOMS:
        if data.startswith(bom):
            # The BOM is authoritative; the "utf-16"/"utf-32"/"utf-8-sig" codecs read and drop it.
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                message = f"could not decode: the file starts with a {encoding} byte-order mark but is not {encoding}"
                raise UserError(message) from None
            _check_text(text)
            return Decoded(text, encoding)
    if b"\x00" not in data:
        return _narrow(data, html)
    nuls = data.count(0)
    if nuls > STRAY_NUL_SHARE * len(data):
        wide = _wide(data)  # UTF-16/32 text (many NULs), or a binary file
        if wide is None:
            raise UserError("binary file (not text)")
        _check_text(wide.text)
        return wide
    # A few NULs: damaged 8-bit text, or (rarely) UTF-16 text with hardly any ASCII character in it.
    try:
        found = _narrow(data.replace(b"\x00", b""), html)
    except UserError:
        wide = _wide(data)
        if wide is None:
            raise UserError("binary file (not text)") from None
        _check_text(wide.text)
        return wide
    note = f"{nuls} NUL byte{'s' if nuls > 1 else ''} removed"
    return found._replace(warning=f"{note}; {found.warning}" if found.warning else note)
