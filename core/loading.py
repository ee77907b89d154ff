"""Load raw text for the Data page: txt, md, html, jsonl, json, csv and zip files, in whatever encoding they come.

Every file gets a `FileReport`; a file that cannot be used is listed with the reason and the others go on,
so one bad upload never hides the rest. Nothing here extracts to disk or imports streamlit.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

from core.errors import UserError

SUPPORTED_SUFFIXES = {".txt", ".md", ".html", ".htm", ".jsonl", ".json", ".csv", ".zip"}
FORMATS = {
    ".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".jsonl": "jsonl", ".json": "json", ".csv": "csv",
}
UNSUPPORTED_HINT = "use txt, md, html, jsonl, json, csv or zip"

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
MESS_SAMPLE_CHARS = 65536  # a sample tells codecs apart as well as the whole text does, and fast
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # category Cc, less tab, newlines, form feed
BIG_MEMBER_BYTES = 1024**2  # the compression-ratio check only applies to members bigger than this
READ_CHUNK = 1024**2
# The JSON fields read by default, in the order they are joined: the Data page and `python -m core clean` share them.
# They cover the common shapes: {"text"}, the chinese-poetry collections' {"title", "paragraphs"} and
# {"title", "content"}, and articles' {"title", "content"}.
TEXT_FIELDS = ("text", "title", "paragraphs", "content")
PREVIEW_DOCUMENTS = 3  # documents of each file shown on the Load tab
PREVIEW_CHARS = 200  # of each


def field_names(values: list[str]) -> list[str]:
    """Field names given as comma lists, one or several: ["title, paragraphs"] and ["title", "paragraphs"] agree."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@dataclass
class LoadOptions:
    txt_split: str = "whole"  # .txt/.md: "whole" (one document per file), "paragraphs" (blank-line separated), "lines"
    text_fields: list[str] = field(default_factory=lambda: list(TEXT_FIELDS))  # json/jsonl: joined with "\n" in order
    csv_column: str = "text"  # .csv: the column holding the text
    max_zip_total_bytes: int = 2 * 1024**3  # cap on the total uncompressed size of a zip (nested zips included)
    max_zip_ratio: float = 100.0  # cap on a member's compression ratio (zip bombs)


@dataclass
class Document:
    text: str
    # where it came from: "poems.json#12" (12th item), "corpus.zip/a/b.txt", "novel.txt#p3" (3rd paragraph),
    # "log.txt#L7" (line 7), "t.csv#4" (4th row); numbers are 1-based
    source: str


@dataclass
class FileReport:
    name: str  # file name as given; zip members are "archive.zip/inner/path.txt"
    # "txt", "md", "html", "jsonl", "json", "csv"; "zip" for a zip that failed as a whole; None if unsupported
    format: str | None
    encoding: str | None  # normalized python codec name: "utf-8", "utf-8-sig", "utf-16", "gb18030", "big5", ...
    documents: int = 0
    chars: int = 0
    fields: list[str] = field(default_factory=list)  # json/jsonl keys or csv columns, so the UI can offer them
    read_fields: list[str] = field(default_factory=list)  # of those, the ones the documents were made of
    preview: list[str] = field(default_factory=list)  # the start of its first documents, to check the choice
    error: str | None = None  # why the file was skipped, for a person

    def summary(self) -> dict:
        """What a dataset's report.json keeps of it: all but the preview (thousands of files would bloat it)."""
        return {k: v for k, v in vars(self).items() if k != "preview"}


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.documents.extend(other.documents)
        self.files.extend(other.files)


class _Skip(Exception):
    """A file-level failure; carries the fields seen so far so the UI can still offer them."""

    def __init__(self, reason: str, fields: list[str] | None = None):
        super().__init__(reason)
        self.fields = fields or []


# ---------------------------------------------------------------- encodings


def _codec_name(name: str) -> str:
    """charset-normalizer says "utf_16_le"; people and the rest of the lab read "utf-16-le"."""
    return codecs.lookup(name).name


def _strict(data: bytes, encoding: str) -> tuple[str, str] | None:
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError:
        return None


def _check_text(text: str) -> None:
    """A decode that 'worked' can still be a binary file: NUL characters or many control characters give it away."""
    if "\x00" in text:
        raise UserError("binary file (not text)")
    if len(CONTROL_CHARS.findall(text)) > CONTROL_SHARE_LIMIT * len(text):
        raise UserError("binary file (not text)")
    if not text.strip():
        raise UserError("empty file")


@lru_cache(maxsize=None)
def _is_common_hanzi(ch: str) -> bool:
    """A CJK ideograph in GB2312 (the common simplified set) or in Big5 level 1 (the common traditional set)."""
    if not "\u4e00" <= ch <= "\u9fff":
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


def _guess(data: bytes) -> tuple[str, str] | None:
    """Ask charset-normalizer, then arbitrate between the Chinese codecs it may have mixed up."""
    best = from_bytes(data).best()
    guess = (str(best), _codec_name(best.encoding)) if best is not None else None
    high_share = len(data.translate(None, bytes(range(128)))) / len(data)  # share of non-ASCII bytes
    short_and_foreign = len(data) < SHORT_INPUT_BYTES and high_share >= 0.3
    if guess and guess[1] not in CHINESE_CODECS and not short_and_foreign:
        return guess  # a confident non-Chinese guess (cp1252, koi8-r, long Korean ...) is kept as is
    # Big5 bytes often decode as GB18030 too, into rare-character garbage; GBK bytes sometimes decode as Big5.
    # The most plausible reading wins; ties go to GB18030, then Big5, then charset-normalizer's own guess.
    candidates = [c for c in (_strict(data, "gb18030"), _strict(data, "big5"), guess) if c]
    if not candidates:
        return None
    return min(candidates, key=lambda c: _misreading_score(c[0]))


def decode(data: bytes) -> tuple[str, str]:
    """Bytes to (text, encoding). Raises UserError (binary, empty, undecodable) with a message for a person."""
    if not data.strip():
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
            return text, encoding
    if b"\x00" in data:
        # NUL bytes without a BOM: UTF-16/32 text (ASCII characters carry a zero byte) or a binary file.
        best = from_bytes(data, cp_isolation=["utf_16_le", "utf_16_be", "utf_32_le", "utf_32_be"]).best()
        if best is None:
            raise UserError("binary file (not text)")
        text, encoding = str(best), _codec_name(best.encoding)
    else:
        found = _strict(data, "utf-8") or _guess(data)
        if found is None:
            raise UserError("could not decode: not UTF-8, UTF-16, GB18030 or Big5")
        text, encoding = found
    _check_text(text)
    return text, encoding


# ---------------------------------------------------------------- formats


def _split_txt(text: str, name: str, how: str) -> list[Document]:
    if how == "whole":
        return [Document(text, name)]
    if how == "paragraphs":
        # A blank line may hold spaces (or a full-width space); the next paragraph keeps its own indentation.
        pieces = re.split(r"\n\s*\n", text)
        paragraphs = [re.sub(r"^(?:[^\S\n]*\n)+", "", p).rstrip() for p in pieces if p.strip()]
        return [Document(p, f"{name}#p{i}") for i, p in enumerate(paragraphs, 1)]
    if how == "lines":
        return [Document(line.rstrip(), f"{name}#L{i}") for i, line in enumerate(text.split("\n"), 1) if line.strip()]
    raise UserError(f"unknown txt_split {how!r}: use whole, paragraphs or lines")


def _as_text(value: object) -> str:
    """A field's value as text: strings as they are, lists of strings joined by lines, numbers written out."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(t for t in map(_as_text, value) if t)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""  # None, booleans and nested objects hold no text of their own


def _from_records(
    records: list[tuple[str, int, object]], name: str, wanted: list[str]
) -> tuple[list[Document], list[str]]:
    """Records are (kind, number, value): a string is a document; an object gives its wanted fields joined by lines."""
    docs: list[Document] = []
    seen: dict[str, None] = {}  # an ordered set of the keys seen, in first-seen order
    for kind, number, record in records:
        if isinstance(record, str):
            text = record
        elif isinstance(record, dict):
            seen.update(dict.fromkeys(record))
            text = "\n".join(t for t in (_as_text(record.get(f)) for f in wanted) if t)
        else:
            raise _Skip(f"{kind} {number} is neither a string nor an object", list(seen))
        if text.strip():  # documents that end up empty are not counted
            docs.append(Document(text, f"{name}#{number}"))
    # Several fields may be offered at once (title, paragraphs, text): those present are joined; none present
    # is a wrong choice (or a typo), not sparse data.
    if seen and not any(f in seen for f in wanted):
        raise _Skip(f"no field {' or '.join(map(repr, wanted))} in the objects: fields are {', '.join(seen)}", list(seen))
    return docs, list(seen)


def _load_jsonl(text: str, name: str, options: LoadOptions) -> tuple[list[Document], list[str]]:
    records = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            records.append(("line", number, json.loads(line)))
        except json.JSONDecodeError as e:
            raise _Skip(f"line {number} is not valid JSON: {e.msg} (column {e.colno})") from None
    return _from_records(records, name, options.text_fields)


def _load_json(text: str, name: str, options: LoadOptions) -> tuple[list[Document], list[str]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise _Skip(f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if isinstance(value, dict):
        if any(f in value for f in options.text_fields):
            value = [value]  # a single object is one document
        else:
            # {"poems": [...]} and the like: the first key that holds a list of strings or objects.
            lists = [
                v for v in value.values() if isinstance(v, list) and v and all(isinstance(x, (str, dict)) for x in v)
            ]
            if not lists:
                raise _Skip(f"no list of texts or objects in the JSON object: keys are {', '.join(value)}", list(value))
            value = lists[0]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _Skip("the JSON holds no text: expected a list of strings or objects")
    return _from_records([("item", i, v) for i, v in enumerate(value, 1)], name, options.text_fields)


def _load_csv(text: str, name: str, options: LoadOptions) -> tuple[list[Document], list[str]]:
    csv.field_size_limit(2**31 - 1)  # whole stories live in one cell; the default limit (128 KiB) would reject them
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    if options.csv_column not in columns:
        raise _Skip(f"no column {options.csv_column!r} in the CSV: columns are {', '.join(columns)}", columns)
    docs = []
    try:
        for row_number, row in enumerate(reader, 1):
            value = row.get(options.csv_column) or ""
            if value.strip():
                docs.append(Document(value, f"{name}#{row_number}"))
    except csv.Error as e:
        raise _Skip(f"CSV row {reader.line_num}: {e}", columns) from None
    return docs, columns


def _load_file(name: str, data: bytes, options: LoadOptions) -> LoadResult:
    """One non-zip file: decode it, then cut it into documents by its format."""
    suffix = PurePosixPath(name).suffix.lower()
    fmt = FORMATS.get(suffix)
    report = FileReport(name=name, format=fmt, encoding=None)
    if fmt is None:
        report.error = f"unsupported format {suffix or '(no extension)'}: {UNSUPPORTED_HINT}"
        return LoadResult([], [report])
    try:
        text, report.encoding = decode(data)
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as open() in text mode would
        if fmt in ("txt", "md"):
            docs, fields = _split_txt(text, name, options.txt_split), []
        elif fmt == "html":
            docs, fields = [Document(text, name)], []  # raw HTML: the cleaning step extracts the text
        elif fmt == "jsonl":
            docs, fields = _load_jsonl(text, name, options)
        elif fmt == "json":
            docs, fields = _load_json(text, name, options)
        else:
            docs, fields = _load_csv(text, name, options)
    except _Skip as e:
        report.error, report.fields = str(e), e.fields
        return LoadResult([], [report])
    except UserError as e:
        report.error = str(e)
        return LoadResult([], [report])
    report.documents, report.chars, report.fields = len(docs), sum(len(d.text) for d in docs), fields
    if fmt in ("json", "jsonl"):
        report.read_fields = [f for f in options.text_fields if f in fields]
    elif fmt == "csv":
        report.read_fields = [options.csv_column]
    report.preview = [d.text[:PREVIEW_CHARS] for d in docs[:PREVIEW_DOCUMENTS]]
    return LoadResult(docs, [report])


# ---------------------------------------------------------------- zip


class _Budget:
    """Uncompressed bytes left for one upload, shared with the zips nested inside it."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0


def _mb(n: float) -> str:
    mb = n / 1024**2
    return f"{n} bytes" if mb < 0.1 else f"{mb:.1f} MB" if mb < 10 else f"{mb:.0f} MB"


def _member_name(info: zipfile.ZipInfo) -> str:
    """Zips made on Chinese Windows store GBK names without the UTF-8 flag; zipfile then reads them as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return info.filename


def _is_unsafe(path: str) -> bool:
    """Absolute paths, drive letters and '..' would escape the archive if anyone ever extracted it."""
    p = PurePosixPath(path.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", path) is not None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, limit_error: str) -> bytes:
    """Read in chunks and count the real bytes: declared sizes can lie."""
    chunks = []
    with archive.open(info) as f:
        while chunk := f.read(READ_CHUNK):
            budget.used += len(chunk)
            if budget.used > budget.limit:
                raise _Skip(limit_error)
            chunks.append(chunk)
    return b"".join(chunks)


def _load_zip(name: str, data: bytes, options: LoadOptions, budget: _Budget, nested: bool) -> LoadResult:
    result = LoadResult()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        result.files.append(FileReport(name, "zip", None, error="not a valid zip file"))
        return result
    limit_error = f"zip too large when unpacked (more than its declared sizes say, limit {_mb(budget.limit)})"
    to_read: list[tuple[str, str, zipfile.ZipInfo]] = []  # (shown name, format, member)
    for info in archive.infolist():
        inner = _member_name(info)
        member = f"{name}/{inner}"
        parts = PurePosixPath(inner.replace("\\", "/")).parts
        if _is_unsafe(inner):  # checked before the hidden-file rule: '..' starts with a dot too
            suffix = PurePosixPath(inner).suffix.lower()
            result.files.append(FileReport(member, FORMATS.get(suffix), None, error="unsafe path in zip"))
            continue
        if info.is_dir() or not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
            continue  # folders, macOS resource forks and hidden files are not content
        suffix = PurePosixPath(inner).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            result.extend(_load_file(member, b"", options))  # reports "unsupported format" without reading it
            continue
        report_format = "zip" if suffix == ".zip" else FORMATS[suffix]
        if suffix == ".zip" and nested:
            error = "zip inside a nested zip: only one level of zips is unpacked"
            result.files.append(FileReport(member, "zip", None, error=error))
            continue
        ratio = info.file_size / info.compress_size if info.compress_size else float("inf")
        if info.file_size > BIG_MEMBER_BYTES and ratio > options.max_zip_ratio:
            error = f"suspicious compression ratio {ratio:.0f}:1 (limit {options.max_zip_ratio:.0f}:1), not unpacked"
            result.files.append(FileReport(member, report_format, None, error=error))
            continue
        to_read.append((member, report_format, info))
    # Check the declared sizes before reading anything; the reads below then count the real bytes.
    declared = sum(info.file_size for _, _, info in to_read)
    if budget.used + declared > budget.limit:
        error = f"zip too large when unpacked ({_mb(budget.used + declared)}, limit {_mb(budget.limit)})"
        result.files.append(FileReport(name, "zip", None, error=error))
        return result
    for member, report_format, info in to_read:
        try:
            if budget.used > budget.limit:  # spent by a member that held more than it declared
                raise _Skip(limit_error)
            content = _read_member(archive, info, budget, limit_error)
        except _Skip as e:
            result.files.append(FileReport(member, report_format, None, error=str(e)))
            continue
        except (zipfile.BadZipFile, OSError, EOFError) as e:  # a damaged member (bad CRC, truncated data)
            result.files.append(FileReport(member, report_format, None, error=f"damaged zip member: {e}"))
            continue
        except (RuntimeError, NotImplementedError) as e:  # encrypted, or a compression method zipfile lacks
            result.files.append(FileReport(member, report_format, None, error=f"cannot unpack this zip member: {e}"))
            continue
        if report_format == "zip":
            result.extend(_load_zip(member, content, options, budget, nested=True))
        else:
            result.extend(_load_file(member, content, options))
    return result


# ---------------------------------------------------------------- entry points


def load_bytes(name: str, data: bytes, options: LoadOptions = LoadOptions()) -> LoadResult:
    """One file as uploaded; a .zip expands into its members. Never raises for a bad file: see `files`."""
    if name.lower().endswith(".zip"):
        return _load_zip(name, data, options, _Budget(options.max_zip_total_bytes), nested=False)
    return _load_file(name, data, options)


def load_paths(paths: list[str | Path], options: LoadOptions = LoadOptions()) -> LoadResult:
    """Files and folders (recursively, sorted, hidden files skipped).

    Raises UserError only for a path that does not exist; a bad file is reported in `files`.
    """
    files: list[tuple[str, Path]] = []  # (name shown to people, path on disk)
    for given in map(Path, paths):
        if not given.exists():
            raise UserError(f"no such file or folder: {given}")
        if given.is_file():
            files.append((given.name, given))
            continue
        for path in sorted(given.rglob("*")):
            relative = path.relative_to(given)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                files.append(((Path(given.name) / relative).as_posix(), path))
    result = LoadResult()
    for name, path in files:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            result.extend(_load_file(name, b"", options))  # reports "unsupported format" without reading it
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            error = f"could not read: {e.strerror or e}"
            result.files.append(FileReport(name, FORMATS.get(path.suffix.lower()), None, error=error))
            continue
        result.extend(load_bytes(name, data, options))
    return result
