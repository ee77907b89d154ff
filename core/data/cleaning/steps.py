"""The per-document cleaning steps of a recipe: each is `step(text, **params) -> str | Dropped`.

A step that changes nothing returns the very same string, so the pipeline can count "changed" documents cheaply.
A full run pushes tens of MB through these, so regexes are compiled here once and every step does its cheapest
check first (no '<' means no HTML, pure ASCII means no mojibake, and so on). The steps whose checks are character
counts also come in a batch form (BATCH_FUNCTIONS) that counts for a whole chunk of documents at once with numpy
lookup tables made from the same regexes (charclass); the pipeline runs those, the per-document form is a batch
of one.
"""

from __future__ import annotations

import hashlib
import operator
import re
import string
from collections import Counter
from functools import cache, lru_cache

import numpy as np

from core.data.cleaning.charclass import Batch, flags, table
from core.data.cleaning.outcome import Dropped
from core.text import CJK_RANGES, CJK_WORD_RANGES, HAN

# --- character classes shared by several steps ------------------------------------------------------------------

# Characters written without spaces between them (core.text.CJK_RANGES); the "word" ones are those the n-gram
# rule of quality_filter takes each as one token.
_CJK = CJK_RANGES
_CJK_WORD = CJK_WORD_RANGES

# A line ending in a colon introduces what follows it: a speaker ("First Citizen:", "旁白："), a heading ("乱曰：").
# It recurs by nature, so neither the duplicate-line rule nor boilerplate removal counts it.
LABEL_ENDS = (":", "：")

# Combining marks are not `\w` in Python's re (they are not alnum), yet Devanagari, Thai, Arabic or decomposed
# Latin words fall apart without them. Hand-written ranges of the main combining blocks, since re has no \p{M}.
_MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0900-\u0dff\u0e31-\u0e4e\u20d0-\u20ff"

# --- 1. html_to_text --------------------------------------------------------------------------------------------

_WHOLE_PAGE_RE = re.compile(r"<html|<body|<!doctype", re.IGNORECASE)
# A tag: '<' followed by a letter, '!' or '/'. "3 < 5" or "a <= b" are not tags and must not trigger stripping.
_TAG_RE = re.compile(r"<[a-zA-Z!/][^>]*>")
_DROP_TAGS = ["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]
# Elements after which the text goes on on a new line; inline elements (b, i, span, a...) vanish without a trace,
# so that 有<b>HTML</b>标签 stays 有HTML标签 (Chinese has no spaces to put back).
_BLOCK_TAGS = (
    "address,article,aside,blockquote,br,dd,details,div,dl,dt,fieldset,figcaption,figure,footer,form,"
    "h1,h2,h3,h4,h5,h6,header,hr,li,main,nav,ol,p,pre,section,summary,table,tr,td,th,ul"
)
_PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl", "hr"}


def html_to_text(text: str, mode: str = "auto") -> str:
    """HTML to plain text: "extract" keeps the main content of a whole page, "strip" removes the tags of a fragment."""
    if "<" not in text:  # the common case for plain-text corpora
        return text
    if mode == "auto":
        if _WHOLE_PAGE_RE.search(text):
            mode = "extract"
        elif _TAG_RE.search(text):
            mode = "strip"
        else:
            return text
    if mode in ("extract", "strip"):
        text = _join_wrapped_cjk(text)
    if mode == "extract":
        extracted = _extract_main_content(text)
        return extracted if extracted is not None else _strip_tags(text)
    if mode == "strip":
        return _strip_tags(text)
    raise ValueError(f"unknown html_to_text mode {mode!r}: use 'auto', 'extract' or 'strip'")


# A line break in HTML source is a space to the browser, except between two East Asian wide characters, where CSS
# drops it (CSS Text 3, "segment break transformation"): a Chinese paragraph wrapped in the source is one line on
# screen. The parsers below keep it as a space or a line break, so it goes here first. <pre> keeps its breaks.
# The character before the break is matched and put back, not looked behind at: a pattern that starts with a
# character class lets re skip ahead to the next CJK character, twice as fast over a page (most pages have none).
_WRAPPED_CJK_RE = re.compile(f"([{_CJK}])[ \t]*(?:\r\n|\r|\n)[ \t]*(?=[{_CJK}])")
_PRE_RE = re.compile(r"(<pre\b.*?</pre\s*>)", re.IGNORECASE | re.DOTALL)


def _join_wrapped_cjk(html: str) -> str:
    parts = _PRE_RE.split(html)  # odd parts are <pre> blocks
    return "".join(part if i % 2 else _WRAPPED_CJK_RE.sub(r"\1", part) for i, part in enumerate(parts))


def _extract_main_content(page: str) -> str | None:
    """trafilatura's main-content extraction, with paragraphs separated by blank lines.

    Its "txt" output puts paragraphs and line breaks alike on single lines, and its markdown output adds markup,
    so we take the XML output and lay it out ourselves: one paragraph per block, <lb/> as a line break.
    """
    # lazy: lxml takes ~20 ms to import, and only this path needs it
    from lxml import etree

    # imported here: trafilatura pulls in lxml and friends, which plain-text runs never need
    from core.data.cleaning.extraction import main_content_xml

    xml = main_content_xml(page)
    if not xml:
        return None
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except etree.XMLSyntaxError:
        return None
    main = root.find("main")
    if main is None:
        return None
    for lb in main.iter("lb"):
        lb.tail = "\n" + (lb.tail or "")
    for item in main.iter("item"):  # list items: one per line
        item.tail = "\n" + (item.tail or "")
    paragraphs = []
    for block in main:
        # The XML is pretty-printed: nested blocks (lists) carry indentation, which must not become text.
        lines = (line.strip() for line in "".join(block.itertext()).split("\n"))
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs) or None


def _strip_tags(fragment: str) -> str:
    # lazy: selectolax takes ~10 ms to import, and only this path needs it
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(fragment)
    tree.strip_tags(_DROP_TAGS)  # these go with their contents (scripts, styles...)
    for node in tree.css(_BLOCK_TAGS):
        # A paragraph-level element gets a blank line, other blocks a line break; normalize_whitespace later
        # squeezes the runs and, between Chinese characters, removes the break altogether.
        node.insert_after("\n\n" if node.tag in _PARAGRAPH_TAGS else "\n")
    root = tree.body or tree.root
    if root is None:
        return ""
    text = root.text(deep=True, separator="")  # entities are decoded by the parser
    return text.strip()


# --- 2. fix_mojibake --------------------------------------------------------------------------------------------

# Mojibake is UTF-8 read as a single-byte code page: every multi-byte sequence starts with a byte 0xC2-0xF4,
# which Latin-1/cp1252/cp1250 show as a Latin letter (Ã, â, å...) and cp1251/cp1253 as Cyrillic/Greek. Text
# without any of those has no mojibake; curly quotes and CJK are deliberately not in this pre-check, since Chinese
# text is full of “” and must not pay for ftfy. Text with such letters (café, 列夫·托尔斯泰, привет) goes to ftfy only
# when ftfy's own detector, ftfy.badness.is_bad, sees mojibake in it: that check is a few times cheaper than fix_text.
# Hand-written pre-checks, as ftfy has no "anything to do?" function covering all its fixes.
_MAYBE_MOJIBAKE_RE = re.compile(r"[\u00c0-\u024f\u0370-\u04ff]")
# What fix_text repairs besides mojibake: control and C1 characters, U+FFFD, HTML entities left in plain text,
# decomposed accents (NFC).
_OTHER_FIXES_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u0300-\u036f\ufffd]"
_ENTITY_RE = re.compile(r"&#?\w+;")


@lru_cache(maxsize=1)
def _ftfy_config():
    # lazy: ftfy takes ~60 ms to import, and only this path needs it
    import ftfy

    # ftfy without the fixes that would rewrite legitimate CJK typography: curly quotes stay curly, full-width
    # letters stay full-width (normalize_width decides about those), ligatures stay. NFC does not touch CJK
    # punctuation or full-width forms (NFKC would).
    return ftfy.TextFixerConfig(
        uncurl_quotes=False,
        fix_latin_ligatures=False,
        fix_character_width=False,
        normalization="NFC",
        explain=False,
    )


def fix_mojibake(text: str) -> str:
    """Repair text that was decoded with the wrong encoding (cafÃ© -> café), with ftfy."""
    return fix_mojibake_all([text])[0]


def fix_mojibake_all(texts: list[str]) -> list[str]:
    """`fix_mojibake` of each text; the pre-checks' character classes are looked up for all texts at once."""
    out = list(texts)
    todo = [i for i, text in enumerate(texts) if not text.isascii() or "&" in text]
    batch = Batch([texts[i] for i in todo])
    other, maybe = (batch.count(t[batch.codes]) > 0 for t in _mojibake_tables())
    for k, i in enumerate(todo):
        out[i] = _fix_mojibake(texts[i], other[k], maybe[k])
    return out


def _fix_mojibake(text: str, other: bool, maybe: bool) -> str:
    if not (other or "&" in text and _ENTITY_RE.search(text)):
        if not maybe:
            return text
        # lazy: ftfy takes ~60 ms to import, and only this path needs it
        import ftfy.badness

        if not ftfy.badness.is_bad(text):
            return text
    # lazy: ftfy takes ~60 ms to import, and only this path needs it
    import ftfy

    fixed = ftfy.fix_text(text, _ftfy_config())
    return text if fixed == text else fixed


@lru_cache(maxsize=1)
def _mojibake_tables() -> tuple[np.ndarray, np.ndarray]:
    return table(_OTHER_FIXES_CHARS), table(_MAYBE_MOJIBAKE_RE.pattern)


# --- 3. normalize_width -----------------------------------------------------------------------------------------

# Full-width forms U+FF01-FF5E map to ASCII U+0021-007E by a fixed offset. We do not use NFKC: it would also turn
# the CJK punctuation ，！？：；（） into ASCII, and Chinese prose keeps those full-width. So: full-width letters and
# digits become ASCII; ASCII-style symbols (＠＃＄％＆＊＋－／＝＜＞［］＾＿｀｛｜｝～, also ＂＇．) too, except where
# they stand in Chinese text as its own typography: next to a CJK character and not next to a letter or digit
# (［合前］, 不准．江湖 and －我 keep theirs; ａ＠ｂ．ｃｏｍ and １２％ become a@b.com and 12%). The forms that Chinese
# uses as its own punctuation always stay. The ideographic space U+3000 becomes a plain space.
_CJK_PUNCTUATION_FULLWIDTH = "，！？：；（）"
_WIDTH_TABLE = {
    code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if chr(code) not in _CJK_PUNCTUATION_FULLWIDTH
}
_WIDTH_TABLE[0x3000] = 0x20
_WIDE_ALNUM = {chr(c) for c in _WIDTH_TABLE if chr(c).isalnum()}
_CJK_CHAR_RE = re.compile(f"[{_CJK}]")


@lru_cache(maxsize=1)
def _width_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per code point: its half-width form (or 0: none), whether it is a convertible full-width symbol, Latin
    (an ASCII or full-width letter or digit) and CJK. Built from the same definitions as above."""
    size = 0x110000
    target = np.zeros(size, dtype=np.uint32)
    target[list(_WIDTH_TABLE)] = list(_WIDTH_TABLE.values())
    symbol = target.astype(bool)
    symbol[[ord(c) for c in _WIDE_ALNUM] + [0x3000]] = False
    latin = np.zeros(size, dtype=bool)
    latin[[ord(c) for c in "".join(_WIDE_ALNUM) + string.digits + string.ascii_letters]] = True
    return target, symbol, latin, table(f"[{_CJK}]")


def normalize_width(text: str) -> str:
    """Full-width letters and digits to half-width (ＧＰＴ１２ -> GPT12), symbols too outside Chinese typography."""
    return normalize_width_all([text])[0]


def normalize_width_all(texts: list[str]) -> list[str]:
    """`normalize_width` of each text, in one numpy pass over all of them."""
    out = list(texts)
    todo = [i for i, text in enumerate(texts) if not text.isascii()]
    batch = Batch([texts[i] for i in todo])
    target, symbol, latin, cjk = _width_tables()
    codes = batch.codes
    wide = np.flatnonzero(target[codes])
    if not len(wide):
        return out
    # A symbol keeps its full width when a neighbour is CJK and none is Latin (in the text as it was). The NUL
    # between two texts is neither, so it counts as no neighbour, as the start or end of a text does.
    symbols = wide[symbol[codes[wide]]]
    before, after = codes[np.maximum(symbols - 1, 0)], codes[np.minimum(symbols + 1, len(codes) - 1)]
    has_before, has_after = symbols > 0, symbols < len(codes) - 1
    latin_near = has_before & latin[before] | has_after & latin[after]
    cjk_near = has_before & cjk[before] | has_after & cjk[after]
    keep = symbols[~latin_near & cjk_near]
    narrow = codes.copy()
    narrow[wide] = target[codes[wide]]
    narrow[keep] = codes[keep]
    changed = np.bincount(batch.owner(wide), minlength=len(todo)) > np.bincount(batch.owner(keep), minlength=len(todo))
    for k in np.flatnonzero(changed):
        out[todo[k]] = batch.text(k, narrow)
    return out


# --- 4. convert_chinese -----------------------------------------------------------------------------------------

CHINESE_DIRECTIONS = ("t2s", "s2t", "tw2s", "hk2s", "s2tw")


@cache
def _opencc(direction: str):
    # lazy: opencc takes ~5 ms to import, and only this path needs it
    import opencc

    return opencc.OpenCC(direction)


def traditional_share(texts: list[str]) -> float:
    """The share of the Han characters in `texts` that OpenCC's t2s changes: about 0 for simplified text, a fifth
    or more for traditional (全唐诗, 宋诗); what the Data page suggests turning convert_chinese on from."""
    han = [c for text in texts for c in HAN.findall(text)]
    if not han:
        return 0.0
    converted = _opencc("t2s").convert("\n".join(han)).split("\n")  # one a line: no phrase table spans two
    return sum(a != b for a, b in zip(han, converted)) / len(han)


def convert_chinese(text: str, direction: str = "t2s") -> str:
    """Traditional <-> simplified Chinese with OpenCC (t2s, s2t, tw2s, hk2s, s2tw)."""
    if direction not in CHINESE_DIRECTIONS:
        raise ValueError(f"unknown Chinese conversion {direction!r}: use one of {', '.join(CHINESE_DIRECTIONS)}")
    if text.isascii() or not HAN.search(text):
        return text
    converted = _opencc(direction).convert(text)
    return text if converted == text else converted


# --- 5. normalize_whitespace ------------------------------------------------------------------------------------

# Zero-width space and BOM: invisible, and they break words and the CJK rule below. (ZWJ/ZWNJ carry meaning.)
_INVISIBLE = ("\u200b", "\ufeff")
_BLANK_LINES_RE = re.compile(r"\n{3,}")
# Only a space with a CJK character on BOTH sides can go. "GPT 模型" keeps its space: a space between Latin and CJK
# is a common, deliberate style, and removing it would glue words together when the other side is Latin.
# (The space comes first in the pattern so that the regex engine can skip to spaces; the lookbehind then looks at
# the space and the character before it.)
_CJK_GAP_RE = re.compile(f" (?<=[{_CJK}] )(?=[{_CJK}])")
_CJK_PAIR_RE = re.compile(f"[{_CJK}](?= ?[{_CJK}])")  # a CJK character followed by another, a space apart or not
# Between two CJK characters a space is an artifact in running text (PDF extraction spaces out every character;
# "和 多余空格的文本。") but a separator in a title or a line of fields ("步出夏门行 冬十月", "帝京篇十首 一"). Running
# text has sentence punctuation; titles and fields have none.
_SENTENCE_PUNCTUATION_RE = re.compile("[，。！？；、]")


def _cjk_gaps(line: str) -> str:
    """The line without its spaces between CJK characters if it is running text or spaced out (more than half of
    its neighbouring CJK characters apart); else as it is."""
    if " " not in line or not _CJK_GAP_RE.search(line):
        return line
    if _SENTENCE_PUNCTUATION_RE.search(line):
        return _CJK_GAP_RE.sub("", line)
    if 2 * len(_CJK_GAP_RE.findall(line)) > len(_CJK_PAIR_RE.findall(line)):
        return _CJK_GAP_RE.sub("", line)
    return line


def _join(lines: list[str]) -> str:
    """Lines joined into one: with nothing between two CJK characters (a wrapped line), with a space otherwise."""
    out = ""
    for line in lines:
        if out and not (_CJK_CHAR_RE.match(out[-1]) and _CJK_CHAR_RE.match(line[0])):
            out += " "
        out += line
    return out


def normalize_whitespace(text: str, join_lines: bool = False) -> str:
    """Squeeze spaces, strip line ends, keep paragraph breaks; spaces between CJK characters go in running text.

    A space between two CJK characters stays in a title or a line of fields ("步出夏门行 冬十月"): see `_cjk_gaps`.
    With join_lines, all line breaks go: Latin words are joined with a space, CJK characters with nothing.
    """
    out = text
    for char in _INVISIBLE:
        if char in out:
            out = out.replace(char, "")
    # str.splitlines knows every line break (\r\n, \r, U+2028...), str.split() every space (tab, NBSP, the
    # ideographic space...): together they squeeze runs of spaces and strip both ends of each line, in C.
    if out.isascii():  # no CJK character, so no gap between two: spared the regex, a third of the step
        lines = [" ".join(line.split()) for line in out.splitlines()]
    else:
        lines = [_cjk_gaps(" ".join(line.split())) for line in out.splitlines()]
    if join_lines:
        out = _join([line for line in lines if line])
    else:
        out = _BLANK_LINES_RE.sub("\n\n", "\n".join(lines).strip("\n"))  # line breaks (poetry) are kept
    return text if out == text else out


# --- 6. filter_characters ---------------------------------------------------------------------------------------

# Punctuation for prose and poetry, Western and Chinese. Apostrophes (' and ’) keep "don't" whole; '-' keeps
# "well-known"; %, /, [], en dash, 【】 and 〈〉 are common enough in Chinese and English prose to keep. Classical
# editions add their own marks: ［］〔〕 around stage directions and tune names, ・ between a title's parts,
# □ for a character lost from the source, ○ as a zero (一○○).
DEFAULT_PUNCTUATION = ".,?!;:'\"()-%/[]" + "，。？！、；：“”‘’（）《》〈〉「」『』【】…—–·" + "［］〔〕・□○"


@lru_cache(maxsize=64)
def _unwanted_re(punctuation: str) -> re.Pattern:
    # \w in a str pattern is Unicode-aware: letters and digits of every script, CJK included.
    return re.compile(f"[^\\w\\s{_MARKS}{re.escape(punctuation)}]+")


LOST = "□"  # chinese-poetry's placeholder for a character lost from the source: kept (it holds the meter's place)


def filter_characters(text: str, punctuation: str = DEFAULT_PUNCTUATION, drop_lost_lines: bool = False) -> str:
    """Keep letters, digits, whitespace and the given punctuation; drop emoji, symbols, box drawing, controls.
    `drop_lost_lines`: also drop each line that holds □, a lost character's placeholder (count_lost says how many)."""
    if drop_lost_lines and LOST in text:
        text = "\n".join(line for line in text.split("\n") if LOST not in line)
    out = _unwanted_re(punctuation).sub("", text)
    return text if len(out) == len(text) else out


def count_lost_lines(texts: list[str]) -> int:
    """Lines that hold □ (LOST): the special-character filter keeps them unless told to drop them."""
    return sum(LOST in line for text in texts for line in text.split("\n"))


# --- 7. quality_filter ------------------------------------------------------------------------------------------

_SYMBOL_RE = re.compile(f"[^\\w\\s{_MARKS}{re.escape(DEFAULT_PUNCTUATION)}]")
# Tokens for the n-gram rule: each CJK character alone (Chinese and Japanese do not separate words by spaces, so
# characters are the practical token), otherwise runs of other word characters (Latin, Cyrillic... words).
_TOKEN_RE = re.compile(f"[{_CJK_WORD}]|[^\\W{_CJK_WORD}]+")
# Repetition is judged on documents of at least this many words only. In shorter ones it is the form, not junk:
# the refrains of the Book of Songs (采采芣苡，薄言采之。采采芣苡，薄言有之。), parallel aphorisms (花不可以无蝶，山不
# 可以无泉…), a ci's repeated lines (借秀色。添春色。借秀色。添春色。). Calibrated on about 40 chinese-poetry files
# (诗经 to 元曲, 23,000 documents) and tinyshakespeare: at 200 words or more, no document's top 2-gram covers more
# than 15 % (the limit is 20 %) and none repeats more than 24 % of its lines (the limit is 30 %); below that,
# real verse and speeches reach 76 % and 35 %.
REPETITION_MIN_WORDS = 200


def quality_filter(
    text: str,
    min_words: int = 1,
    max_chars: int | None = None,
    max_symbol_ratio: float = 0.1,
    repetition_min_words: int = REPETITION_MIN_WORDS,
    max_duplicate_line_fraction: float = 0.3,
    max_top_ngram_fraction: float = 0.2,
) -> str | Dropped:
    """Gopher-style heuristics (Rae et al. 2021): length, symbol share, duplicate lines, most common 2-gram.

    Script-aware: a CJK character counts as a word (Chinese and Japanese do not separate words by spaces), so a
    五言 line is five words. The default floor of one word drops only documents with no word at all: a line of a
    play ("ROMEO:\nAy.") or a fragment of a poem (句\n扇掩將雛曲，釵承墮馬鬟。) is text; presets raise it.
    No length limit by default: a book is text, cut into chapters when loaded (core.data.book); the web preset
    sets `max_chars` for pages.
    """
    return quality_filter_all([text], min_words, max_chars, max_symbol_ratio, repetition_min_words,
                              max_duplicate_line_fraction, max_top_ngram_fraction)[0]


def quality_filter_all(
    texts: list[str],
    min_words: int = 1,
    max_chars: int | None = None,
    max_symbol_ratio: float = 0.1,
    repetition_min_words: int = REPETITION_MIN_WORDS,
    max_duplicate_line_fraction: float = 0.3,
    max_top_ngram_fraction: float = 0.2,
) -> list[str | Dropped]:
    """`quality_filter` of each text: the counts (words, spaces, symbols, the most common token) for all texts in
    one numpy pass over their code points, then the rules per text."""
    stats = _QualityStats(texts)
    out: list[str | Dropped] = []
    for i, text in enumerate(texts):
        chars, words = len(text), int(stats.words[i])
        if max_chars is not None and chars > max_chars:
            out.append(Dropped("too_long", f"{chars} characters, above the maximum of {max_chars}",
                               {"chars": chars, "max": max_chars}))
        elif words < min_words:
            out.append(Dropped("too_short", f"{words} words, below the minimum of {min_words}",
                               {"words": words, "min": min_words}))
        elif stats.visible[i] and stats.symbols[i] / stats.visible[i] > max_symbol_ratio:
            # Symbols (#, $, >, |, emoji...) per non-space character: menus, tables, code and spam are full of them.
            ratio = int(stats.symbols[i]) / int(stats.visible[i])
            out.append(Dropped("too_many_symbols",
                               f"{ratio:.0%} of the characters are symbols, above the maximum of "
                               f"{max_symbol_ratio:.0%}", {"ratio": round(ratio, 4), "max": max_symbol_ratio}))
        elif words < repetition_min_words:
            out.append(text)
        else:
            out.append(_repetition(text, int(stats.token_chars[i]), int(stats.top_token_cover[i]),
                                   max_duplicate_line_fraction, max_top_ngram_fraction))
    return out


class _QualityStats:
    """Per text: words (len(_TOKEN_RE.findall(text))), visible (non-space) characters, symbols (_SYMBOL_RE),
    the characters of its tokens, and a bound on the largest count x length of one distinct token."""

    def __init__(self, texts: list[str]):
        batch = Batch(texts)
        flags = _quality_flags()[batch.codes]  # one lookup per character for all four classes
        is_cjk = (flags & _CJK_WORD_FLAG).astype(bool)  # each is a token
        latin = (flags & (_WORD_FLAG | _CJK_WORD_FLAG)) == _WORD_FLAG  # runs of these are the other tokens
        run_starts = latin.copy()
        run_starts[1:] &= ~latin[:-1]
        cjk_tokens, runs = batch.count(is_cjk), batch.count(run_starts)
        self.words = cjk_tokens + runs
        self.visible = np.array([len(t) for t in texts], dtype=np.int64) - batch.count((flags & _SPACE_FLAG).astype(bool))
        self.symbols = batch.count((flags & _SYMBOL_FLAG).astype(bool))
        self.token_chars = cjk_tokens + batch.count(latin)
        run_ends = latin.copy()  # the last character of each run (the batch ends in a NUL, which is no \w)
        run_ends[:-1] &= ~latin[1:]
        self.top_token_cover = _top_token_cover(batch.codes, np.flatnonzero(is_cjk), cjk_tokens,
                                                np.flatnonzero(run_starts), np.flatnonzero(run_ends) + 1, runs)


def _top_token_cover(codes: np.ndarray, cjk_at: np.ndarray, cjk_tokens: np.ndarray, starts: np.ndarray,
                     ends: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Per text, at least the largest count x length of one distinct token (a bound: see the keys below), from
    the positions of the CJK tokens and the starts and ends of the others, and how many of each every text has."""
    texts = np.arange(len(runs), dtype=np.uint64)
    # A CJK token's key: its text and code point. A word's key: its text, length and first two and last two
    # characters: a cruder key than the whole word, but far cheaper, and the bound stays a bound (in prose it
    # stays far below the limit: "there" and "three" are no "the").
    cjk_keys = (np.repeat(texts, cjk_tokens) << np.uint64(21)) | codes[cjk_at]
    lengths = ends - starts
    keys = np.repeat(texts * np.uint64(0x9E3779B97F4A7C15), runs) + lengths.astype(np.uint64)
    for at in (starts, np.minimum(starts + 1, ends - 1), ends - 1, np.maximum(ends - 2, starts)):
        keys = keys * np.uint64(0x100000001B3) + codes[at]
    # Each key's characters (count x length) added up in a hash table of buckets, not sorted: keys that share a
    # bucket add up together, which only raises the bound (a text then takes the exact count a little more often).
    keys = np.concatenate((cjk_keys, keys))
    bits = max(10, len(keys).bit_length())  # one to two buckets per token
    buckets = ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)).astype(np.intp)
    cover = np.zeros(1 << bits, dtype=np.int64)
    np.add.at(cover, buckets, np.concatenate((np.ones(len(cjk_at), np.int64), lengths)))
    covers = cover[buckets]
    return np.maximum(_max_per_text(covers[: len(cjk_at)], cjk_tokens), _max_per_text(covers[len(cjk_at) :], runs))


def _max_per_text(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The largest of each text's values (`values` holds counts[0] of text 0's, then text 1's...), 0 for none."""
    best = np.zeros(len(counts), dtype=np.int64)
    has = counts > 0
    if has.any():
        best[has] = np.maximum.reduceat(values, (np.cumsum(counts) - counts)[has])
    return best


_WORD_FLAG, _SPACE_FLAG, _CJK_WORD_FLAG, _SYMBOL_FLAG = 1, 2, 4, 8  # the bits of _quality_flags


def _quality_flags() -> np.ndarray:
    r"""Per code point, a bit for each class: \w, \s, a CJK word character, a symbol (_SYMBOL_RE)."""
    return flags(r"\w", r"\s", f"[{_CJK_WORD}]", _SYMBOL_RE.pattern)


def _repetition(text: str, token_chars: int, top_token_cover: int, max_duplicate_line_fraction: float,
                max_top_ngram_fraction: float):
    # Share of non-empty lines that repeat an earlier line. Labels (a speaker's name, "乱曰：") repeat by nature.
    lines = [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.endswith(LABEL_ENDS)]
    if len(lines) > 1:
        fraction = (len(lines) - len(set(lines))) / len(lines)
        if fraction > max_duplicate_line_fraction:
            return Dropped("repeated_lines",
                           f"{fraction:.0%} of the lines are repeats, above the maximum of "
                           f"{max_duplicate_line_fraction:.0%}",
                           {"fraction": round(fraction, 4), "max": max_duplicate_line_fraction})

    # Share of the token characters covered by the most common 2-gram (Gopher's "top 2-gram" rule).
    # Shortcut: a 2-gram occurring n times has both its tokens occurring at least n times, so it covers at most
    # twice the share of the most covering single token. In ordinary prose (where "the" or 的 cover a few
    # percent) that settles the question, on numbers counted for all texts at once (_top_token_cover).
    if 2 * top_token_cover <= max_top_ngram_fraction * token_chars:
        return text
    tokens = _TOKEN_RE.findall(text)
    unigrams = Counter(tokens)
    top_unigram = max(map(operator.mul, unigrams.values(), map(len, unigrams)))
    if 2 * top_unigram <= max_top_ngram_fraction * token_chars or len(tokens) < 2:  # one token: no 2-gram
        return text
    (first, second), count = Counter(zip(tokens, tokens[1:])).most_common(1)[0]
    if count > 1:
        fraction = min(1.0, count * (len(first) + len(second)) / token_chars)
        if fraction > max_top_ngram_fraction:
            return Dropped("repeated_ngrams",
                           f"the most common 2-gram \"{first} {second}\" covers {fraction:.0%} of the text, "
                           f"above the maximum of {max_top_ngram_fraction:.0%}",
                           {"ngram": f"{first} {second}", "fraction": round(fraction, 4),
                            "max": max_top_ngram_fraction})
    return text


# --- 8. language_filter -----------------------------------------------------------------------------------------

_LANGUAGE_SAMPLE_CHARS = 2000  # the start of a document tells its language; classifying all of it only costs time
_MIN_LANGUAGE_CHARS = 20  # shorter texts are kept: too short to judge


@lru_cache(maxsize=1)
def _language_identifier():
    # langid ships its model; loading it takes a moment, so once per process. Not restricted to the wanted
    # languages: French must be recognised as French to be dropped, not forced into "en".
    import numpy as np
    from langid.langid import LanguageIdentifier, model

    class SparseIdentifier(LanguageIdentifier):
        def nb_classprobs(self, fv):
            # langid multiplies the whole 7480-feature count vector (uint32) by its float32 model matrix; with mixed
            # types numpy cannot use BLAS and this takes ~1.3 ms per document, 70% of the step. A document uses a
            # few hundred features, so the same product over the non-zero rows gives the same numbers, 20x faster.
            used = np.flatnonzero(fv)
            return np.dot(fv[used], self.nb_ptc[used]) + self.nb_pc

    return SparseIdentifier.from_modelstring(model, norm_probs=True)


def language_filter(
    text: str, languages: tuple[str, ...] = ("en", "zh"), min_confidence: float = 0.5
) -> str | Dropped:
    """Drop a text when langid is at least min_confidence sure that it is in a language not in `languages`.

    Uncertain texts (mixed, lists of names) are kept: dropping them would be a guess.
    """
    sample = text[:_LANGUAGE_SAMPLE_CHARS]
    if len(sample.strip()) < _MIN_LANGUAGE_CHARS:
        return text
    language, confidence = _language_identifier().classify(sample)
    confidence = float(confidence)
    if language in languages or confidence < min_confidence:
        return text
    wanted = ", ".join(languages)
    return Dropped("wrong_language",
                   f"detected language {language} (confidence {confidence:.2f}), not one of {wanted}",
                   {"language": language, "confidence": round(confidence, 4), "languages": list(languages)})


# The same steps over many texts at once, where that is faster: the pipeline runs these on its chunks.
# --- 9. exclude_documents ---------------------------------------------------------------------------------------


def document_key(text: str) -> str:
    """A document's identity in an exclusion list: a hash of its text as saved (the data map names it so)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=8)
def _excluded(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(keys)


def exclude_documents(text: str, keys: tuple[str, ...] = ()) -> str | Dropped:
    """Drop the documents a person excluded on the data map (core.evaluation.document_loss), named by
    `document_key` of their text as the rest of the recipe leaves it; last in a recipe, so that key is the one the
    saved dataset's text has."""
    if keys and document_key(text) in _excluded(tuple(keys)):
        return Dropped("excluded", "excluded on the data map", {})
    return text


BATCH_FUNCTIONS = {
    "fix_mojibake": fix_mojibake_all,
    "normalize_width": normalize_width_all,
    "quality_filter": quality_filter_all,
}

STEP_FUNCTIONS = {
    "html_to_text": html_to_text,
    "fix_mojibake": fix_mojibake,
    "normalize_width": normalize_width,
    "convert_chinese": convert_chinese,
    "normalize_whitespace": normalize_whitespace,
    "filter_characters": filter_characters,
    "quality_filter": quality_filter,
    "language_filter": language_filter,
    "exclude_documents": exclude_documents,
}
