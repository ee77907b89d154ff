"""Which Han characters count as common: the ones the starter's tokenizer holds as whole tokens.

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
# CJK Unified Ideographs, extension A, compatibility ideographs, and extensions B to H (outside the BMP).
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_BMP_BLOCKS = [range(0x3400, 0x4DC0), range(0x4E00, 0xA000)]


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
