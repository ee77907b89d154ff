"""Load raw text for the Data page: txt, md, html, jsonl, json, csv and zip files, in whatever encoding they come.

Every file gets a `FileReport`; a file that cannot be used is listed with the reason and the others go on,
so one bad upload never hides the rest. Nothing here extracts to disk or imports streamlit.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path, PurePosixPath

from core.data import book, text_stream
from core.data.decoding import decode
from core.data.documents import Document, Documents
from core.errors import UserError
from core.workspace import DATA_ROOTS_ENV

SUPPORTED_SUFFIXES = {".txt", ".md", ".html", ".htm", ".jsonl", ".json", ".csv", ".parquet", ".zip"}
FORMATS = {
    ".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".jsonl": "jsonl", ".json": "json", ".csv": "csv",
    ".parquet": "parquet",
}
UNSUPPORTED_HINT = "use txt, md, html, jsonl, json, csv, parquet or zip"
PARQUET_BATCH_ROWS = 2_000  # rows read from a Parquet file at a time: its text columns, never the whole file

# Zip bombs: the compression ratio applies to every member and to the archive as a whole, with this much expansion
# allowed on top, so tiny files that compress well (a short poem repeated, an empty file) are fine. Without the
# whole-archive check, 2,040 members of exactly 1 MiB slipped under a per-member rule and took 2 GB of memory.
RATIO_ALLOWANCE_BYTES = 64 * 1024
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
    max_zip_ratio: float = 100.0  # cap on the compression ratio of each member and of the whole zip (zip bombs)
    # Caps on what one load reads from disk: all of it is held in memory, and `/` holds 120k files.
    max_files: int = 20_000
    max_total_bytes: int = 2 * 1024**3


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
    cut: dict | None = None  # a long .txt/.md read "whole": how it was cut into documents (core.data.book.Cut)
    error: str | None = None  # why the file was skipped, for a person
    warning: str | None = None  # loaded, but read with a doubt or a repair ("encoding guessed as ... "), for a person

    def summary(self) -> dict:
        """What a dataset's report.json keeps of it: all but the preview (thousands of files would bloat it)."""
        return {k: v for k, v in vars(self).items() if k != "preview"}


@dataclass
class LoadResult:
    # texts stored as UTF-8 (core.data.documents); a list of Documents given here is stored so too
    documents: Documents = field(default_factory=Documents)
    files: list[FileReport] = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.documents, Documents):
            self.documents = Documents(self.documents)

    def extend(self, other: LoadResult) -> None:
        """Takes over the other's documents by reference, without copying their texts."""
        self.documents.extend(other.documents)
        self.files.extend(other.files)

    @property
    def texts(self) -> Sequence[str]:
        """The documents' texts, read through (no list of the whole corpus): a preview samples a few of them."""
        return self.documents.texts

    @property
    def sources(self) -> Sequence[str]:
        return self.documents.sources


class _Skip(Exception):
    """A file-level failure; carries the fields seen so far so the UI can still offer them."""

    def __init__(self, reason: str, fields: list[str] | None = None):
        super().__init__(reason)
        self.fields = fields or []


# ---------------------------------------------------------------- formats


def _txt_documents(pieces: Iterable[str], name: str, options: LoadOptions) -> tuple[Documents, list[str]]:
    """The documents of a text given in pieces (one piece: the whole text), cut the way `txt_split` says."""
    how, docs = options.txt_split, Documents()
    if how == "whole":
        pieces, long = _up_to_a_book(pieces)
        if not long:
            docs.add_pieces(pieces, name)
        else:
            return _book_documents(pieces, name), []
    elif how == "paragraphs":
        for i, paragraph in enumerate(text_stream.paragraphs(pieces), 1):
            docs.add(paragraph, f"{name}#p", i)
    elif how == "lines":
        for i, line in text_stream.lines(pieces):
            docs.add(line, f"{name}#L", i)
    else:
        raise UserError.coded("txt_split_unknown", how=repr(how))
    return docs, []


class _BookDocuments(Documents):
    """The documents a book was cut into, with how it was cut (for the file's report)."""

    cut: book.Cut


def _up_to_a_book(pieces: Iterable[str]) -> tuple[Iterable[str], bool]:
    """The pieces, and whether they make a text long enough to be a book (read up to there)."""
    pieces = iter(pieces)
    head, chars = [], 0
    for piece in pieces:
        head.append(piece)
        chars += len(piece)
        if chars > book.BOOK_CHARS:
            return chain(head, pieces), True
    return head, False


def _book_documents(pieces: Iterable[str], name: str) -> Documents:
    """A book's documents, cut as it is read (core.data.book.Cutter): one document at a time held as a `str`."""
    docs = _BookDocuments()
    cutter = book.Cutter(pieces)
    for number, part in enumerate(cutter, 1):
        docs.add(part, f"{name}#c", number)
    docs.cut = cutter.how
    return docs


def _as_text(value: object) -> str:
    """A field's value as text: strings as they are, lists of strings joined by lines, numbers written out."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(t for t in map(_as_text, value) if t)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""  # None, booleans and nested objects hold no text of their own


def _fields_text(record: dict, wanted: list[str]) -> str:
    """The wanted fields' texts joined by lines (a loop, not nested generators: it runs once per JSONL line)."""
    parts = []
    for name in wanted:
        value = record.get(name)
        text = value if isinstance(value, str) else _as_text(value)
        if text:
            parts.append(text)
    return "\n".join(parts)


def _from_records(
    records: Iterable[tuple[str, int, object]], name: str, wanted: list[str]
) -> tuple[Documents, list[str]]:
    """Records are (kind, number, value): a string is a document; an object gives its wanted fields joined by lines.

    The records may be parsed as they come (a JSONL file read in chunks): after a record that fails, the rest are
    still read, so a line that is not JSON further on is the failure reported, as when the whole file was parsed
    before any record was used."""
    docs = Documents()
    seen: dict[str, None] = {}  # an ordered set of the keys seen, in first-seen order
    failed: _Skip | None = None
    for kind, number, record in records:
        if failed:
            continue
        if isinstance(record, str):
            text = record
        elif isinstance(record, dict):
            seen.update(dict.fromkeys(record))
            try:
                text = _fields_text(record, wanted)
            except RecursionError:  # a value json.loads could still read, but too deep for _as_text to walk
                failed = _Skip("JSON nested too deeply to read")
                continue
        else:
            failed = _Skip(f"{kind} {number} is neither a string nor an object", list(seen))
            continue
        if text.strip():  # documents that end up empty are not counted
            docs.add(text, f"{name}#", number)
    if failed:
        raise failed
    # Several fields may be offered at once (title, paragraphs, text): those present are joined; none present
    # is a wrong choice (or a typo), not sparse data.
    if seen and not any(f in seen for f in wanted):
        raise _Skip(f"no field {' or '.join(map(repr, wanted))} in the objects: fields are {', '.join(seen)}", list(seen))
    return docs, list(seen)


def _parse_json(text: str, line: int | None = None) -> object:
    """json.loads with each of its failures as a one-line reason; `line` is the line number in a .jsonl file."""
    where = f"line {line}: " if line else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if line:
            raise _Skip(f"line {line} is not valid JSON: {e.msg} (column {e.colno})") from None
        raise _Skip(f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise _Skip(f"{where}JSON nested too deeply to read") from None
    except ValueError:  # the only other one: an integer longer than python converts (int_max_str_digits)
        raise _Skip(f"{where}a number with more than {sys.get_int_max_str_digits()} digits, not text") from None


def _jsonl_documents(pieces: Iterable[str], name: str, options: LoadOptions) -> tuple[Documents, list[str]]:
    """A JSONL text given in pieces, parsed a line at a time."""
    lines = enumerate(text_stream.split_lines(pieces), 1)
    records = (("line", number, _parse_json(line, number)) for number, line in lines if line.strip())
    return _from_records(records, name, options.text_fields)


def _load_json(text: str, name: str, options: LoadOptions) -> tuple[Documents, list[str]]:
    """Parsed whole: a JSON array or object has no lines to stream by (a 500 MB JSON file takes about 3x its size;
    JSONL is the format for large corpora)."""
    value = _parse_json(text)
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


def _csv_documents(pieces: Iterable[str], name: str, options: LoadOptions) -> tuple[Documents, list[str]]:
    """A CSV text given in pieces, read a row at a time: csv.reader takes the lines with their ends, as a file
    opened with newline="" gives them (the text's newlines are already "\n"), so quoted cells may span lines."""
    csv.field_size_limit(2**31 - 1)  # whole stories live in one cell; the default limit (128 KiB) would reject them
    reader = csv.DictReader(text_stream.split_lines(pieces, keep_ends=True))
    columns: list[str] = []
    docs = Documents()
    try:
        columns = list(reader.fieldnames or [])
        if options.csv_column not in columns:
            raise _Skip(f"no column {options.csv_column!r} in the CSV: columns are {', '.join(columns)}", columns)
        for row_number, row in enumerate(reader, 1):
            value = row.get(options.csv_column) or ""
            if value.strip():
                docs.add(value, f"{name}#", row_number)
    except csv.Error as e:
        raise _Skip(f"CSV row {reader.line_num}: {e}", columns) from None
    return docs, columns


# The formats read a piece at a time, from a file streamed in chunks or (one piece) from a whole decoded text.
# JSON is parsed whole; HTML is decoded whole, where its declared charset is honoured.
PIECEWISE_READERS: dict[str, Callable[[Iterable[str], str, LoadOptions], tuple[Documents, list[str]]]] = {
    "txt": _txt_documents, "md": _txt_documents, "jsonl": _jsonl_documents, "csv": _csv_documents,
}


def load_records(records: Iterable[dict], name: str, fmt: str, options: LoadOptions,
                 fields: list[str] | None = None) -> LoadResult:
    """Rows of a table (a Parquet file, a Hugging Face dataset) as documents: the text fields chosen as for JSON.
    `fields`: the table's columns when known, offered even when a row lacks some."""
    report = FileReport(name=name, format=fmt, encoding=None)
    try:
        docs, seen = _from_records((("row", number, row) for number, row in enumerate(records, 1)), name,
                                   options.text_fields)
    except _Skip as e:
        report.error, report.fields = str(e), fields or e.fields
        return LoadResult([], [report])
    return _loaded(report, docs, fields or seen, options)


def _parquet_rows(source, options: LoadOptions) -> tuple[Iterator[dict], list[str]]:
    """A Parquet file's rows, read a batch at a time (a row group is read in parts, never the file at once), with
    only the wanted columns; and all its columns."""
    # lazy: pyarrow takes ~90 ms to import, and only this path needs it
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    columns = parquet.schema_arrow.names
    wanted = [c for c in options.text_fields if c in columns]
    if not wanted:
        message = f"no field {' or '.join(map(repr, options.text_fields))} in the Parquet file: columns are {', '.join(columns)}"
        raise _Skip(message, columns)
    batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted)
    return (row for batch in batches for row in batch.to_pylist()), columns


def _load_parquet(name: str, source, options: LoadOptions) -> LoadResult:
    # lazy: pyarrow takes ~90 ms to import, and only this path needs it
    import pyarrow

    try:
        rows, columns = _parquet_rows(source, options)
        return load_records(rows, name, "parquet", options, columns)
    except _Skip as e:
        return LoadResult([], [FileReport(name, "parquet", None, fields=e.fields, error=str(e))])
    except (pyarrow.ArrowException, OSError) as e:  # not Parquet, or damaged
        return LoadResult([], [FileReport(name, "parquet", None, error=f"not a readable Parquet file: {e}")])


def _load_file(name: str, data: bytes, options: LoadOptions) -> LoadResult:
    """One non-zip file: decode it, then cut it into documents by its format."""
    suffix = PurePosixPath(name).suffix.lower()
    fmt = FORMATS.get(suffix)
    report = FileReport(name=name, format=fmt, encoding=None)
    if fmt is None:
        report.error = f"unsupported format {suffix or '(no extension)'}: {UNSUPPORTED_HINT}"
        return LoadResult([], [report])
    if fmt == "parquet":
        return _load_parquet(name, io.BytesIO(data), options)
    try:
        text, report.encoding, report.warning = decode(data, html=fmt == "html")
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as open() in text mode would
        if fmt in PIECEWISE_READERS:
            docs, fields = PIECEWISE_READERS[fmt]([text], name, options)
        elif fmt == "html":
            docs, fields = Documents([Document(text, name)]), []  # raw HTML: the cleaning step extracts the text
        else:
            docs, fields = _load_json(text, name, options)
    except _Skip as e:
        report.error, report.fields = str(e), e.fields
        return LoadResult([], [report])
    except UserError as e:
        report.error = str(e)
        return LoadResult([], [report])
    return _loaded(report, docs, fields, options)


def _loaded(report: FileReport, docs: Documents, fields: list[str], options: LoadOptions) -> LoadResult:
    """A file's documents with its report filled in: counts, the fields read, the preview."""
    report.documents, report.chars, report.fields = len(docs), docs.chars, fields
    if report.format in ("parquet", "dataset"):
        report.read_fields = [f for f in options.text_fields if f in fields]
    if isinstance(docs, _BookDocuments):
        report.cut = asdict(docs.cut)
    if report.format in ("json", "jsonl"):
        report.read_fields = [f for f in options.text_fields if f in fields]
    elif report.format == "csv":
        report.read_fields = [options.csv_column]
    report.preview = [docs.head(i, PREVIEW_CHARS) for i in range(min(PREVIEW_DOCUMENTS, len(docs)))]
    return LoadResult(docs, [report])


# ---------------------------------------------------------------- zip


class _Budget:
    """Bytes one load may still read: unpacked from one upload and the zips nested inside it, or read from disk."""

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
    """Read in chunks, never more than the member declares: the ratio checks trusted the declared sizes."""
    chunks, size = [], 0
    with archive.open(info) as f:
        while chunk := f.read(READ_CHUNK):
            size += len(chunk)
            budget.used += len(chunk)
            if size > info.file_size:
                raise _Skip(f"zip member holds more than the {_mb(info.file_size)} it declares, not unpacked")
            if budget.used > budget.limit:
                raise _Skip(limit_error)
            chunks.append(chunk)
    return b"".join(chunks)


def _too_compressed(expanded: int, compressed: int, options: LoadOptions) -> str | None:
    """Why `expanded` bytes out of `compressed` look like a zip bomb, or None."""
    if expanded <= compressed * options.max_zip_ratio + RATIO_ALLOWANCE_BYTES:
        return None
    ratio = expanded / compressed if compressed else float("inf")
    return f"suspicious compression ratio {ratio:.0f}:1 (limit {options.max_zip_ratio:.0f}:1), not unpacked"


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
        error = _too_compressed(info.file_size, info.compress_size, options)
        if error:
            result.files.append(FileReport(member, report_format, None, error=error))
            continue
        to_read.append((member, report_format, info))
    # Check the declared sizes before reading anything; the reads below then count the real bytes.
    declared = sum(info.file_size for _, _, info in to_read)
    if budget.used + declared > budget.limit:
        error = f"zip too large when unpacked ({_mb(budget.used + declared)}, limit {_mb(budget.limit)})"
        result.files.append(FileReport(name, "zip", None, error=error))
        return result
    error = _too_compressed(declared, len(data), options)
    if error:  # many members, each just within the ratio and the allowance
        result.files.append(FileReport(name, "zip", None, error=f"{error} (the whole zip)"))
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


OUTSIDE = "outside the folders the lab may read"
HIDDEN = "hidden (a name starting with '.'), not read"


def _refusal(path: Path, roots: list[Path]) -> str | None:
    """Why the server may not read `path` (resolved): OUTSIDE every root, HIDDEN below one; None if it may."""
    root = next((r for r in roots if path.is_relative_to(r)), None)
    if root is None:
        return OUTSIDE
    return HIDDEN if any(part.startswith(".") for part in path.relative_to(root).parts) else None


def _check_allowed(given: Path, real: Path, roots: list[Path]) -> None:
    refusal = _refusal(real, roots)
    if refusal == HIDDEN:
        raise UserError.coded("path_hidden", path=given)
    if refusal == OUTSIDE:
        raise UserError.coded("path_outside_roots", path=given, roots=", ".join(map(str, roots)), env=DATA_ROOTS_ENV,
                              sep=os.pathsep)


def _files_in(given: Path, roots: list[Path] | None) -> Iterator[tuple[str, Path, str | None]]:
    """(name shown, resolved path, why it is not read or None) for a file, or for each file in a folder.

    Hidden files and folders are skipped at every level; a link leading outside the roots is listed, not read.
    """
    if "\0" in str(given):  # no file system allows it: the OS would raise ValueError
        raise UserError.coded("path_has_nul", path=repr(str(given)))
    real = given.resolve()
    if roots is not None:  # before exists(): what lies outside the roots is not even confirmed to exist
        _check_allowed(given, real, roots)
    if not real.exists():
        raise UserError.coded("path_missing", path=given)
    if real.is_file():
        yield given.name, real, None
        return
    if not real.is_dir():
        raise UserError.coded("path_not_file_or_folder", path=given)
    for folder, subfolders, names in os.walk(real):  # does not follow links to folders
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for file_name in (n for n in names if not n.startswith(".")):
            path = Path(folder, file_name)
            target = path.resolve()
            if target.is_file():  # not a dangling link, a pipe (reading one would block forever) or a device
                refusal = _refusal(target, roots) if roots is not None else None
                yield (Path(given.name) / path.relative_to(real)).as_posix(), target, refusal


def _listing(paths: list[str | Path], roots: list[Path] | None, limit: int) -> list[tuple[str, Path, str | None]]:
    """Every file to report on, each given path's files sorted by name; stops walking past `limit` files."""
    files: list[tuple[str, Path, str | None]] = []
    for given in map(Path, paths):
        found = []
        for entry in _files_in(given, roots):
            found.append(entry)
            if len(files) + len(found) > limit:
                raise UserError.coded("too_many_files", limit=f"{limit:,}")
        files += sorted(found, key=lambda f: PurePosixPath(f[0]).parts)
    return files


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # gone since it was listed: reading it says so


def _read_capped(path: Path, budget: _Budget) -> bytes:
    """What is left of the budget at most: the file may have grown since its size was counted. One buffer of the
    file's size (read(n) allocates n bytes up front, so not n = the whole budget), and a byte more to see growth."""
    with path.open("rb") as f:
        data = f.read(min(os.fstat(f.fileno()).st_size, budget.limit - budget.used) + 1)
        while len(data) <= budget.limit - budget.used and (more := f.read(READ_CHUNK)):  # it grew meanwhile
            data += more
    _spend(budget, len(data))
    return data


def _chunks(path: Path, budget: _Budget) -> Iterator[bytes]:
    """The file in chunks of READ_CHUNK, each counted against the budget as it is read (never a buffer of the whole
    budget, which read(limit) would ask for)."""
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            _spend(budget, len(chunk))
            yield chunk


def _spend(budget: _Budget, read: int) -> None:
    budget.used += read
    if budget.used > budget.limit:
        raise OSError(f"it grew past the {_mb(budget.limit)} the lab loads at once while being read")


def _streamed(name: str, path: Path, options: LoadOptions, budget: _Budget) -> LoadResult | None:
    """A UTF-8 .txt, .md, .jsonl or .csv file cut into documents as it is read (core.data.text_stream), so memory
    holds the documents and a chunk, not the bytes, the text and its pieces at once; None when it must be read
    whole (another format or encoding: the budget is then as before). Reports are the whole-file reading's."""
    fmt = FORMATS.get(_suffix(name))
    if fmt == "parquet":  # read from the file a batch at a time: a 1 GB file is not held
        _spend(budget, _size(path))
        return _load_parquet(name, path, options)
    if fmt not in PIECEWISE_READERS:
        return None
    used = budget.used
    text = text_stream.Utf8Text(_chunks(path, budget))
    pieces = iter(text)  # one pass: after a failure its rest is still read, from where the reader stopped
    report = FileReport(name=name, format=fmt, encoding=None)
    try:
        try:
            docs, fields = PIECEWISE_READERS[fmt](pieces, name, options)
        except _Skip as e:
            for _ in pieces:  # the whole-file reading decodes first: not UTF-8, or binary, takes precedence
                pass
            report.encoding, report.error, report.fields = text.encoding, str(e), e.fields
            return LoadResult([], [report])
    except text_stream.NotStreamable:
        budget.used = used
        return None
    except UserError as e:  # binary or empty, as the whole-file reading says
        report.error = str(e)
        return LoadResult([], [report])
    report.encoding = text.encoding
    return _loaded(report, docs, fields, options)


def load_paths(paths: list[str | Path], options: LoadOptions = LoadOptions(), *,
               allowed_roots: list[Path] | None) -> LoadResult:
    """Files and folders (recursively, sorted by name, hidden files and folders skipped).

    `allowed_roots`: the resolved folders the caller may read under; the server (the Data page) passes the
    workspace inbox and QUILL_DATA_ROOTS, since whoever opens the page must not read ~/.ssh. None reads any
    path: for the command line, whose user names paths they could read in a shell anyway, and the lab's own files.
    Raises UserError for a path that does not exist or is not allowed, and over the file-count or size cap;
    a bad file is reported in `files`.
    """
    saved = [p for p in paths if is_saved_dataset(Path(p))]
    if saved:  # a folder written by `datasets`' save_to_disk: read through `datasets`, not file by file
        result = LoadResult()
        for path in saved:
            if allowed_roots is not None:
                _check_allowed(Path(path), Path(path).resolve(), allowed_roots)
            result.extend(load_saved(Path(path), options))
        rest = [p for p in paths if p not in saved]
        if rest:
            result.extend(load_paths(rest, options, allowed_roots=allowed_roots))
        return result
    files = _listing(paths, allowed_roots, options.max_files)
    to_read = [(name, path) for name, path, refusal in files if not refusal and _suffix(name) in SUPPORTED_SUFFIXES]
    total = sum(_size(path) for _, path in to_read)
    if total > options.max_total_bytes:
        raise UserError.coded("files_too_big", total=_mb(total), limit=_mb(options.max_total_bytes))
    result, budget = LoadResult(), _Budget(options.max_total_bytes)
    for name, path, refusal in files:
        if refusal:
            result.files.append(FileReport(name, FORMATS.get(_suffix(name)), None, error=refusal))
        elif _suffix(name) not in SUPPORTED_SUFFIXES:
            result.extend(_load_file(name, b"", options))  # reports "unsupported format" without reading it
        else:
            try:
                loaded = _streamed(name, path, options, budget) or load_bytes(name, _read_capped(path, budget), options)
            except OSError as e:
                error = f"could not read: {e.strerror or e}"
                result.files.append(FileReport(name, FORMATS.get(_suffix(name)), None, error=error))
                continue
            result.extend(loaded)
    return result


def is_saved_dataset(path: Path) -> bool:
    """A folder `Dataset.save_to_disk` (state.json) or `DatasetDict.save_to_disk` (dataset_dict.json) wrote."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def load_saved(path: Path, options: LoadOptions) -> LoadResult:
    """A save_to_disk folder's rows: every split of a DatasetDict, in order, each named "folder/split"."""
    # lazy: datasets takes ~680 ms to import, and only this path needs it
    import datasets

    try:
        saved = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as error:
        raise UserError.coded("hf_saved_unreadable", path=path, reason=error) from error
    splits = saved.items() if isinstance(saved, datasets.DatasetDict) else [(None, saved)]
    result = LoadResult()
    for split, table in splits:
        name = f"{path.name}/{split}" if split else path.name
        columns = list(table.column_names)
        result.extend(load_records(iter(table), name, "dataset", options, columns))
    return result
