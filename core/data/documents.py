"""The loaded documents, stored compactly: texts as UTF-8 in large buffers with offsets, sources as runs.

A Python `str` holding a single character above U+00FF (a Han character, but also ’ or —) stores every character
in 2 bytes, and each document as objects (a `Document`, its text, its source string) costs ~200 bytes more: a
corpus of short paragraphs held as `Document`s took twice its size on disk. Here a document costs its UTF-8 bytes
plus 12: an 8-byte end offset and a 4-byte source number. `Document(text, source)` objects are made on access.

Hand-written: numpy's string arrays are fixed-width (the longest document sets every row's size) and pyarrow's
string builders would be a large dependency for one list of strings.
"""

from __future__ import annotations

import codecs
import mmap
import re
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

# Texts are gathered up to this size, then written into one chunk, exactly sized and never changed again (so two
# stores can share it): no buffer is grown by realloc, and what is held twice for a moment is one chunk's texts.
# Small for that reason: 16 MiB bytearrays grown by realloc took the 50 MB corpus's load peak to 1.53x its size.
CHUNK_BYTES = 1024**2
# A chunk this large is an anonymous memory map of its own, outside the malloc heap: there, 1 MiB chunks among the
# loader's passing strings left holes worth 0.08-0.18x of a load's peak (measured against a fixed mmap threshold).
# Smaller ones (a short file's documents) stay bytes: each map is one of a process's limited mappings (65530).
MAPPED_CHUNK_BYTES = 256 * 1024
# Lone surrogates (which a JSON "\ud800" escape gives) are stored and read back as they are, not refused.
ERRORS = "surrogatepass"
NO_NUMBER = 0xFFFFFFFF  # in `_numbers`: the source is its prefix alone
# "novel.txt#p12", "log.txt#L7", "poems.jsonl#3": a prefix shared by a file's documents, and a number
NUMBERED = re.compile(r"(.*#[pL]?)([1-9][0-9]{0,8})", re.DOTALL)


@dataclass(slots=True)  # no __dict__: a view made per access, or a document passed in
class Document:
    text: str
    # where it came from: "poems.json#12" (12th item), "corpus.zip/a/b.txt", "novel.txt#p3" (3rd paragraph),
    # "log.txt#L7" (line 7), "t.csv#4" (4th row); numbers are 1-based
    source: str


class Documents(Sequence[Document]):
    """A list of `Document`s that keeps texts as UTF-8: len, indexing (slices give lists), iteration, ==, append,
    extend; `.texts` and `.sources` read one field without making the other."""

    def __init__(self, documents: Iterable[Document] = ()):
        self._chunks: list[bytes | bytearray | mmap.mmap] = []  # never changed once here
        self._chunk_starts: list[int] = []  # offset of each chunk's first byte in the store's concatenated texts
        self._pending: list[bytes] = []  # the texts of the next chunk, encoded, not yet joined
        self._pending_size = 0
        self._size = 0  # bytes of all texts
        self._ends = array("q")  # per document: the end of its text in the concatenated texts
        self._numbers = array("I")  # per document: its source's number, or NO_NUMBER
        self._prefixes: list[str] = []  # source prefixes, one per run of documents sharing it
        self._prefix_starts = array("q")  # the first document of each run
        self.chars = 0  # characters of all texts (len of each str), kept so reports need not decode them
        self.extend(documents)

    # ------------------------------------------------------------ adding

    def add(self, text: str, prefix: str, number: int | None = None) -> None:
        """A document whose source is `prefix` followed by `number` ("novel.txt#p" and 3), or `prefix` alone.
        Called once per paragraph of a large file: kept to a few steps."""
        data = text.encode("utf-8", ERRORS)
        size = len(data)
        if size >= CHUNK_BYTES or self._pending_size + size > CHUNK_BYTES:
            self._seal()
            if size >= CHUNK_BYTES:  # a large text is a chunk of its own, kept as the bytes it was encoded to
                self._chunks.append(data)
                self._chunk_starts.append(self._size)
                data = None
        if data is not None:
            self._pending.append(data)
            self._pending_size += size
        self._size += size
        self._ends.append(self._size)
        if not self._prefixes or self._prefixes[-1] != prefix:
            self._prefixes.append(prefix)
            self._prefix_starts.append(len(self._ends) - 1)
        self._numbers.append(NO_NUMBER if number is None else number)
        self.chars += len(text)

    def add_pieces(self, pieces: Iterable[str], source: str) -> None:
        """One document made of the pieces in order (a whole file read in chunks), never held as one `str`."""
        self._seal()
        buffer, chars = bytearray(), 0
        for piece in pieces:
            buffer += piece.encode("utf-8", ERRORS)
            chars += len(piece)
        # A chunk of its own, left a bytearray: making it bytes would copy it whole.
        self._chunks.append(buffer)
        self._chunk_starts.append(self._size)
        self._size += len(buffer)
        self._ends.append(self._size)
        self._add_source(source)
        self.chars += chars

    def append(self, document: Document) -> None:
        found = NUMBERED.fullmatch(document.source)
        if found:
            self.add(document.text, found[1], int(found[2]))
        else:
            self.add(document.text, document.source)

    def extend(self, documents: Iterable[Document]) -> None:
        """Another store's texts are taken over by reference (its buffers are sealed first), never copied."""
        if isinstance(documents, Documents):
            self._take(documents)
        else:
            for document in documents:
                self.append(document)

    def _add_source(self, prefix: str, number: int | None = None) -> None:
        if not self._prefixes or self._prefixes[-1] != prefix:
            self._prefixes.append(prefix)
            self._prefix_starts.append(len(self._ends) - 1)
        self._numbers.append(NO_NUMBER if number is None else number)

    def _seal(self) -> None:
        """The texts gathered so far become a chunk: before another chunk is added, and before any text is read."""
        if self._pending:
            self._chunks.append(_joined(self._pending, self._pending_size))
            self._chunk_starts.append(self._size - self._pending_size)
            self._pending, self._pending_size = [], 0

    def _take(self, other: Documents) -> None:
        if other is self:
            raise ValueError("a store cannot be extended with itself")
        self._seal()
        other._seal()
        base, count = self._size, len(self._ends)
        self._chunks += other._chunks
        self._chunk_starts += [base + start for start in other._chunk_starts]
        self._ends.extend(array("q", (base + end for end in other._ends)) if base else other._ends)
        self._numbers.extend(other._numbers)
        for prefix, start in zip(other._prefixes, other._prefix_starts):
            if self._prefixes and self._prefixes[-1] == prefix and start == 0:
                continue  # the run goes on across the two stores
            self._prefixes.append(prefix)
            self._prefix_starts.append(count + start)
        self.chars += other.chars
        self._size += other._size

    def __getstate__(self) -> dict:
        """Pickled (a copy, a cache on disk) with its maps as bytes: a memory map cannot be pickled."""
        self._seal()
        return {**vars(self), "_chunks": [bytes(c) if isinstance(c, mmap.mmap) else c for c in self._chunks]}

    # ------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = self._index(index)
        return Document(self._text(index), self._source(index))

    def __iter__(self) -> Iterator[Document]:
        return (Document(text, source) for text, source in zip(self._texts(), self._sources()))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # mutable, as a list is

    def __repr__(self) -> str:
        return f"Documents({len(self)} documents, {self.chars} characters)"

    @property
    def texts(self) -> Sequence[str]:
        return _Texts(self, self._text, self._texts)

    @property
    def sources(self) -> Sequence[str]:
        return _Column(self, self._source, self._sources)

    def head(self, index: int, chars: int) -> str:
        """The first `chars` characters of a document's text, decoding no more than that of a long one."""
        start, end = self._span(self._index(index))
        chunk, offset = self._locate(start)
        decoder = codecs.getincrementaldecoder("utf-8")(ERRORS)  # not final: a character cut at the end is left out
        return decoder.decode(chunk[offset : offset + min(end - start, 4 * chars)])[:chars]

    def _index(self, index: int) -> int:
        self._seal()
        size = len(self._ends)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("document index out of range")
        return index

    def _span(self, index: int) -> tuple[int, int]:
        return self._ends[index - 1] if index else 0, self._ends[index]

    def _locate(self, start: int) -> tuple[bytes | bytearray | mmap.mmap, int]:
        """The chunk holding the text that starts at `start`, and its offset there (a text never spans chunks)."""
        k = bisect_right(self._chunk_starts, start) - 1  # the last chunk starting there: those before it are empty
        return self._chunks[k], start - self._chunk_starts[k]

    def _text(self, index: int) -> str:
        start, end = self._span(index)
        if start == end:
            return ""
        chunk, offset = self._locate(start)
        return str(chunk[offset : offset + end - start], "utf-8", ERRORS)

    def _source(self, index: int) -> str:
        prefix = self._prefixes[bisect_right(self._prefix_starts, index) - 1]
        number = self._numbers[index]
        return prefix if number == NO_NUMBER else f"{prefix}{number}"

    def _texts(self) -> Iterator[str]:
        """Every text in order, walking the chunks instead of searching one per document."""
        self._seal()
        k, start = 0, 0
        for end in self._ends:
            if start == end:
                yield ""
                continue
            while k + 1 < len(self._chunk_starts) and self._chunk_starts[k + 1] <= start:
                k += 1
            offset = start - self._chunk_starts[k]
            yield str(self._chunks[k][offset : offset + end - start], "utf-8", ERRORS)
            start = end

    def _sources(self) -> Iterator[str]:
        bounds = [*self._prefix_starts[1:], len(self)]
        for prefix, start, stop in zip(self._prefixes, self._prefix_starts, bounds):
            for number in self._numbers[start:stop]:  # a slice, not islice: that would walk from the first
                yield prefix if number == NO_NUMBER else f"{prefix}{number}"


def _joined(pieces: list[bytes], size: int) -> bytes | mmap.mmap:
    if size < MAPPED_CHUNK_BYTES:
        return b"".join(pieces)
    chunk = mmap.mmap(-1, size)  # written piece by piece: no joined copy beside it
    for piece in pieces:
        chunk.write(piece)
    return chunk


class _Column(Sequence):
    """One field of each document, by index or in order, without making the other: the Data page's preview samples
    a few texts of a large corpus through it."""

    def __init__(self, store: Documents, one, every):
        self._store, self._one, self._every = store, one, every

    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._one(i) for i in range(*index.indices(len(self._store)))]
        return self._one(self._store._index(index))

    def __iter__(self) -> Iterator[str]:
        return self._every()


class _Texts(_Column):
    def head(self, index: int, chars: int) -> str:
        """The first `chars` characters of a text (Documents.head), for a preview of long documents."""
        return self._store.head(index, chars)
