"""A long text file (a whole book) cut into documents at its own structure: chapters, then blank-line paragraphs,
then a size bound, so that per-document steps judge chapters, not one outlier the size of a novel.

Hand-written: the heading forms of plain-text books (Project Gutenberg's "CHAPTER XII.", 章回 novels' "第十二回",
Markdown's "# ") are a handful of patterns, and no library cuts books by them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

from core.data.text_stream import split_lines

# A file longer than this is a book: it is cut. Shorter files (a poem, an article, a chapter) stay one document.
BOOK_CHARS = 100_000
# No document of a cut book is longer: a longer chapter is cut at its blank lines (then its lines, then anywhere).
MAX_DOCUMENT_CHARS = 100_000
MIN_HEADINGS = 2  # one heading-like line does not make a book's structure
LOOKAHEAD_CHARS = 2_000_000  # the start of a book, where the kind of its headings is chosen

_NUMBER = (r"(?:[0-9]+|[IVXLCDM]+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
           r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|the[^\S\n]+\w+)")
_CHINESE_NUMBER = "[〇零一二三四五六七八九十百千两0-9０-９]+"
# Each kind of heading, by the name the preview gives it. A heading is a whole line of at most 80 characters.
HEADINGS = {
    "Chapter": re.compile(rf"(?:chapter|book)[^\S\n]+{_NUMBER}\b[^\n]{{0,70}}", re.IGNORECASE),
    "第…章/回": re.compile(rf"第{_CHINESE_NUMBER}[章回节節卷][^\n]{{0,60}}"),
    "Roman numerals": re.compile(r"[IVXLCDM]+\.?"),
    "# headings": re.compile(r"#{1,6}[ \t]+\S[^\n]{0,78}"),
}


@dataclass(frozen=True)
class Cut:
    """How a book was cut, for the preview: "47 chapters at 'Chapter' headings, 60 documents"."""

    heading: str | None  # the kind of heading cut at (a key of HEADINGS), None when the book has none
    chapters: int  # chapters found (0 without headings)
    documents: int  # documents made, the front matter and the parts of long chapters included

    def describe(self) -> str:
        if self.heading is None:
            return (f"cut at blank lines into {self.documents} documents of at most {MAX_DOCUMENT_CHARS:,} "
                    "characters (no chapter headings found)")
        said = f"cut into {self.chapters} chapters at '{self.heading}' headings"
        if self.documents == self.chapters:
            return said
        return f"{said}, {self.documents} documents (the front matter, and chapters over {MAX_DOCUMENT_CHARS:,} " \
               "characters cut at blank lines)"


def cut_description(values: dict) -> str:
    """A FileReport's `cut` (a Cut as a dict) in words."""
    return Cut(**values).describe()


class Cutter:
    """Cuts a book given in pieces (a file read in chunks) as they come, holding one document at a time: the kind of
    heading is chosen on the first LOOKAHEAD_CHARS (a book shows its chapter headings early). `how` is known once
    the documents have all been taken."""

    def __init__(self, pieces: Iterable[str]):
        self.lines = split_lines(pieces)
        self.how: Cut | None = None

    def __iter__(self) -> Iterator[str]:
        head, chars = [], 0
        for line in self.lines:
            head.append(line)
            chars += len(line) + 1
            if chars > LOOKAHEAD_CHARS:
                break
        heading = _heading_kind(head)
        pattern = HEADINGS.get(heading)
        document = _Document()
        chapters = documents = 0
        for line in chain(head, self.lines):
            stripped = line.strip()
            if pattern is not None and stripped and len(stripped) <= 80 and pattern.fullmatch(stripped):
                chapters += 1
                for text in document.take():
                    documents += 1
                    yield text
            for text in document.add(line, blank=not stripped):
                documents += 1
                yield text
        for text in document.take():
            documents += 1
            yield text
        self.how = Cut(heading, chapters, documents)


def cut(text: str) -> tuple[list[str], Cut]:
    """The documents of a book held whole, and how it was cut."""
    cutter = Cutter([text])
    documents = list(cutter)
    return documents, cutter.how


def _heading_kind(lines: list[str]) -> str | None:
    """The most frequent kind of heading line among `lines`, when found at least MIN_HEADINGS times."""
    counts: Counter = Counter()
    for line in lines:
        stripped = line.strip()
        if stripped and len(stripped) <= 80:
            for name, pattern in HEADINGS.items():
                if pattern.fullmatch(stripped):
                    counts[name] += 1
                    break
    found = [(name, n) for name, n in counts.most_common() if n >= MIN_HEADINGS]
    return found[0][0] if found else None


class _Document:
    """The document being gathered, in paragraphs; `add` gives back the documents its bound closes, `take` the rest."""

    def __init__(self):
        self.paragraphs: list[str] = []  # closed paragraphs
        self.size = 0  # their characters, with the blank line between each two
        self.lines: list[str] = []  # the open paragraph
        self.lines_size = 0

    def add(self, line: str, blank: bool) -> Iterator[str]:
        if blank:
            yield from self._close_paragraph()
            return
        if self.lines and self.lines_size + len(line) + 1 > MAX_DOCUMENT_CHARS:  # a paragraph over the bound
            yield from self.take()
        while len(line) > MAX_DOCUMENT_CHARS:  # a line over the bound
            yield from self.take()
            yield line[:MAX_DOCUMENT_CHARS]
            line = line[MAX_DOCUMENT_CHARS:]
        self.lines.append(line)
        self.lines_size += len(line) + 1

    def _close_paragraph(self) -> Iterator[str]:
        if not self.lines:
            return
        paragraph = "\n".join(self.lines)
        self.lines, self.lines_size = [], 0
        if self.paragraphs and self.size + len(paragraph) + 2 > MAX_DOCUMENT_CHARS:
            yield from self.take()
        self.paragraphs.append(paragraph)
        self.size += len(paragraph) + 2

    def take(self) -> Iterator[str]:
        """The document so far, if it holds any text; then an empty one."""
        if self.lines:
            self.paragraphs.append("\n".join(self.lines))
            self.lines, self.lines_size = [], 0
        text = "\n\n".join(self.paragraphs)
        self.paragraphs, self.size = [], 0
        if text.strip():
            yield text.rstrip()
