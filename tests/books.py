"""Whole books in one file, built from the shared corpora (no network): a 3 MB English book with chapter headings
and a Chinese 章回 excerpt under 第…回 headings. Built in the test, not committed (tests/data stays small)."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

CHINESE_DIGITS = "零一二三四五六七八九"


def roman(number: int) -> str:
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                           (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while number >= value:
            out, number = out + letters, number - value
    return out


def chinese_number(number: int) -> str:
    """1..999 the way chapter headings write them: 十二, 二十, 一百零五."""
    hundreds, tens, ones = number // 100, number // 10 % 10, number % 10
    out = f"{CHINESE_DIGITS[hundreds]}百" if hundreds else ""
    if tens:
        out += ("" if tens == 1 and not hundreds else CHINESE_DIGITS[tens]) + "十"
    elif hundreds and ones:
        out += "零"
    return out + (CHINESE_DIGITS[ones] if ones else "")


def english_book(shakespeare: str, chapter_lines: int = 400) -> str:
    """About 3.3 MB: tinyshakespeare three times (as written, each line's words reversed, each letter rot13'd, so
    that no copy is a duplicate of another), a "CHAPTER <roman>" heading every `chapter_lines` lines."""
    lines = shakespeare.split("\n")
    variants = [lines, [" ".join(reversed(line.split(" "))) for line in lines],
                [codecs.encode(line, "rot13") for line in lines]]
    out, chapter = ["The Plays, Thrice Told", "", "A test book built from tinyshakespeare.", ""], 0
    for variant in variants:
        for start in range(0, len(variant), chapter_lines):
            chapter += 1
            out += ["", "", f"CHAPTER {roman(chapter)}.", "", *variant[start:start + chapter_lines]]
    return "\n".join(out) + "\n"


def chinese_novel(poetry: Path, poems_per_chapter: int = 20) -> str:
    """A 章回 excerpt: the shared classical texts as paragraphs under 第…回 headings (about 140,000 characters)."""
    poems = []
    for name in ("poet.tang.0.json", "shijing.json", "lunyu.json", "宋词三百首.json"):
        for item in json.loads((poetry / name).read_text(encoding="utf-8")):
            body = item.get("paragraphs") or item.get("content") or []
            poems.append("\n".join(body))
    out = ["章回小说选", ""]
    for number, start in enumerate(range(0, len(poems), poems_per_chapter), 1):
        out += ["", f"第{chinese_number(number)}回　诗文第{chinese_number(number)}", ""]
        for poem in poems[start:start + poems_per_chapter]:
            out += [poem, ""]
    return "\n".join(out)


def content_lines(texts) -> list[str]:
    return [line.strip() for text in texts for line in text.split("\n") if line.strip()]
