"""Text as the lab reads it: which Han characters count as common (the ones the starter's tokenizer holds as whole
tokens), and the byte-level alphabet GPT-2-style tokenizers write bytes in.

The union of the two standard sets of modern written Chinese and the forms that map onto them:
- the 8,105 characters of the 通用规范汉字表 (2013, mainland China), shipped beside this file;
- the 13,061 Han characters of Big5 (Taiwan and Hong Kong's traditional set, used for classical texts too), read
  off Python's own `big5` codec;
- every traditional or variant form of those that OpenCC converts to one of them (发 → 發 and 髮, 剑 → 劍 and 劒).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

TONGYONG_GUIFAN = Path(__file__).parent / "tongyong-guifan-2013.txt"
# The lab's one home for "which characters are Chinese / CJK" (hand-written: neither `re` nor unicodedata has these
# classes). As regex character-class bodies, so callers can combine them.
# Han: CJK Unified Ideographs, extension A, compatibility ideographs, and extensions B to H (outside the BMP).
HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
# Letters of the scripts written without spaces between words: Han, kana (hiragana, katakana), hangul syllables.
CJK_WORD_RANGES = HAN_RANGES + "\u3040-\u30ff\uac00-\ud7af"
# Everything written without spaces between it: the above plus CJK symbols and punctuation (、。《》「」…, the
# ideographic space), radicals, bopomofo, jamo, the vertical and compatibility forms and the full-width forms block.
CJK_RANGES = (
    CJK_WORD_RANGES
    + "\u1100-\u11ff"  # hangul jamo
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3000-\u303f"  # CJK symbols and punctuation
    "\u3100-\u312f"  # bopomofo
    "\u3130-\u318f"  # hangul compatibility jamo
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\ufe10-\ufe1f"  # vertical forms
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff00-\uffef"  # half-width and full-width forms
)
HAN = re.compile(f"[{HAN_RANGES}]")
HAN_PATTERN = HAN
CJK = re.compile(f"[{CJK_RANGES}]")
_BMP_BLOCKS = [range(0x3400, 0x4DC0), range(0x4E00, 0xA000)]


def is_han(ch: str) -> bool:
    """A Han character (any block, rare extensions included)."""
    return HAN.fullmatch(ch) is not None


def is_cjk(ch: str) -> bool:
    """A character written without spaces around it (CJK_RANGES): Han, kana, hangul, CJK punctuation, full-width."""
    return CJK.fullmatch(ch) is not None


def is_chinese(text: str) -> bool:
    """True when at least a third of the non-space characters are Han characters."""
    chars = len(text) - sum(c.isspace() for c in text)
    return chars > 0 and len(han_chars(text)) * 3 >= chars


_WORDS = re.compile(r"\w+|[^\w\s]")


def units(text: str) -> list[str]:
    """What n-gram statistics count in a text: its characters (spaces left out) when it is Chinese, else its words
    and punctuation marks."""
    if is_chinese(text):
        return [c for c in text if not c.isspace()]
    return _WORDS.findall(text)


def han_chars(text: str) -> list[str]:
    """The Han characters of `text`, in order, repeats included."""
    return HAN.findall(text)


def tongyong_guifan(levels: int = 3) -> list[str]:
    """The 通用规范汉字表 in table order: level 1 (3,500 common characters), up to `levels` levels."""
    lines = [line for line in TONGYONG_GUIFAN.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return [char for line in lines[:levels] for char in line]


def big5() -> list[str]:
    """The Han characters of Big5 (levels 1 and 2), in code point order."""
    chars = []
    for block in _BMP_BLOCKS:
        for code in block:
            try:
                chr(code).encode("big5")
            except UnicodeEncodeError:
                continue
            chars.append(chr(code))
    return chars


def traditional_forms(chars: set[str]) -> set[str]:
    """The traditional and variant forms of `chars`: OpenCC's s2t of each, and every BMP character its t2s maps
    into `chars` (s2t gives one form per character; the reverse finds the others, 复 → 復 and 複)."""
    # lazy: opencc takes ~5 ms to import, and only this path needs it
    import opencc

    # One character a line, so OpenCC's phrase tables never see two neighbours as a word.
    forward = opencc.OpenCC("s2t").convert("\n".join(sorted(chars))).split("\n")
    candidates = [chr(code) for block in _BMP_BLOCKS for code in block]
    backward = opencc.OpenCC("t2s").convert("\n".join(candidates)).split("\n")
    return {c for c in forward if len(c) == 1} | {c for c, s in zip(candidates, backward) if s in chars}


@lru_cache(maxsize=1)
def common_han() -> tuple[str, ...]:
    """The common Han characters (see the module's docstring), in code point order."""
    base = set(tongyong_guifan()) | set(big5())
    return tuple(sorted(c for c in base | traditional_forms(base) if HAN.fullmatch(c)))


@lru_cache(maxsize=1)
def byte_chars() -> dict[int, str]:
    """GPT-2's byte-level alphabet: byte -> the printable character a byte-level BPE writes it as."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()
