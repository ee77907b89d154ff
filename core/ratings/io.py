"""Ratings in and out of the lab database as CSV or JSONL files.

`export` writes every rating joined with its sample's provenance: one row per (sample, rater). CSV is written
with the csv module as UTF-8 with a BOM, so that Excel shows Chinese text; JSONL is one UTF-8 object per line.
A CSV text cell that a spreadsheet would run as a formula (it starts with = + - @, their full-width forms, a tab
or a carriage return, also after spaces or a `;`) gets a leading `'`, OWASP's rule against CSV injection, so it shows as text; numbers stay numbers. A text that
itself starts with `'` gets one more, and `import_file` takes that one quote off again: the round trip is exact.

`import_file` reads samples, with or without ratings, from such a file (or one made by hand) into the store, in
one transaction: a bad row is a UserError naming its line, and nothing of the file is stored. Columns:

- required: model, prompt, text
- optional sample fields: those of a sample record (core.ratings.schema.SampleRecord): checkpoint, run, dataset,
  config_name, settings and stats (JSON objects), seed, sample_index, created (ISO). So the file that
  `python -m core sample --out` writes imports as it is.
- optional rating: rater, fluency, coherence, style, repetition (1-5 or empty), comment
- sample_id: rows with the same value are one sample (an export has one row per rating); without it, each row
  is its own sample. The ids in the file are not kept: the database gives new ones.
- Idempotent: a sample already stored (same content_hash: model, checkpoint, prompt, settings, seed, index, text)
  is not stored again, whatever path it came by; a rating of it by the same rater replaces the stored one.
- source, batch and rated_at are read and ignored: imported samples have source "import" and one batch per import.

An export imported into a fresh database gives the same samples (those that were rated) and the same scores.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from core.errors import UserError
from core.files import jsonl_objects, write_text_atomic
from core.ratings.rubric import CRITERIA
from core.ratings.schema import FIELDS, SampleRecord
from core.ratings.store import Rating, Store, _checked, _rater, _scores, insert_checked

FORMATS = ("csv", "jsonl")
SAMPLE_COLUMNS = (  # what an export writes of each sample; "created" last (it is renamed from sample_created)
    "model", "checkpoint", "run", "dataset", "config_name", "settings", "seed", "prompt", "text", "created",
)
RATING_COLUMNS = ("rater", *CRITERIA, "comment")
EXPORT_COLUMNS = ("sample_id", *SAMPLE_COLUMNS, "source", *RATING_COLUMNS, "rated_at")
IGNORED_COLUMNS = ("source", "batch", "rated_at")
# What a spreadsheet reads as the start of a formula (OWASP). By hand, not defusedcsv: that one skips tab and
# carriage return and rewrites every `|` in the cell, which the import could not undo exactly.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and full-width ＝＋－＠
# Spreadsheets skip these before a formula (" =1"), or split the cell at them in a locale that separates with ";"
FORMULA_LEAD = " ;,\u3000"
KNOWN_COLUMNS = tuple(dict.fromkeys(("sample_id", *FIELDS, *RATING_COLUMNS, *IGNORED_COLUMNS)))


# --- export ---------------------------------------------------------------------------------------------------


def export(store: Store, fmt: str, path: str | Path) -> int:
    """Write every rating with its sample's provenance to `path` as `fmt` ("csv" or "jsonl"); returns the rows."""
    if fmt not in FORMATS:
        raise UserError.coded("export_format_unknown", format=repr(fmt), formats=", ".join(FORMATS))
    path = Path(path)
    if path.is_dir():
        raise UserError.coded("export_to_folder", path=path, format=fmt)
    rows = [_export_row(rating) for rating in store.ratings()]
    text = io.StringIO()
    if fmt == "csv":
        text.write("\ufeff")  # the BOM: Excel then reads UTF-8
        writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_cell(value) for key, value in row.items()})
    else:
        for row in rows:
            text.write(json.dumps(row, ensure_ascii=False) + "\n")
    try:  # under a temporary name, renamed when complete: an interrupted export never leaves half a file
        write_text_atomic(path, text.getvalue())
    except OSError as exc:
        raise UserError.coded("cannot_write", path=path, reason=exc.strerror or exc) from exc
    return len(rows)


def _export_row(rating: dict) -> dict:
    row = {key: rating[key] for key in ("sample_id", *SAMPLE_COLUMNS[:-1])}
    row["created"] = _iso(rating["sample_created"])
    row["source"] = rating["source"]
    row.update({key: rating[key] for key in RATING_COLUMNS})
    row["rated_at"] = _iso(rating["updated"])
    return row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _csv_cell(value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # a number, a negative seed too, is no formula and must stay a number in the sheet
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
    return "'" + text if _quoted(text) else text


def _quoted(text: str) -> bool:
    """The cell gets a leading quote: a spreadsheet could read it as a formula, or it starts with a quote itself."""
    return text.startswith("'") or text.lstrip(FORMULA_LEAD).startswith(FORMULA_START)


def _csv_text(cell: str) -> str:
    """A CSV cell as the text that was exported: the quote `_csv_cell` put before it taken off."""
    return cell[1:] if cell.startswith("'") and _quoted(cell[1:]) else cell


# --- import ---------------------------------------------------------------------------------------------------


def import_file(store: Store, path: str | Path) -> dict:
    """Add the samples (source "import") and ratings in a CSV or JSONL file; returns {"samples": n, "ratings": m}.

    All or nothing: a bad row raises a UserError that names its line, and then nothing is stored.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:  # newline="": a carriage return in a cell is kept
            content = f.read()
    except FileNotFoundError:
        raise UserError.coded("file_missing", path=path) from None
    except UnicodeDecodeError:
        raise UserError.coded("file_not_utf8", path=path) from None
    except OSError as exc:
        raise UserError.coded("cannot_read", path=path, reason=exc.strerror or exc) from exc
    records = jsonl_objects(content, path.name) if _is_jsonl(path, content) else _read_csv(path, content)

    samples: dict[object, tuple[int, dict]] = {}  # group key -> (line, sample record)
    ratings: dict[tuple[object, str], tuple[int, dict]] = {}
    for line, record in records:
        where = f"{path.name} line {line}"
        unknown = sorted(set(record) - set(KNOWN_COLUMNS))
        if unknown:
            raise UserError.coded("columns_unknown", where=where, unknown=", ".join(unknown), known=", ".join(KNOWN_COLUMNS))
        sample = _sample(record, where)
        key = _text(record.get("sample_id")) or ("line", line)
        if key in samples and samples[key][1] != sample:
            raise UserError.coded("sample_id_conflict", where=where, key=key, line=samples[key][0])
        samples.setdefault(key, (line, sample))
        rating = _rating(record, where)
        if rating is not None:
            if (key, rating["rater"]) in ratings:
                first = ratings[key, rating["rater"]][0]
                raise UserError.coded("rating_twice", where=where, rater=rating['rater'], line=first)
            ratings[key, rating["rater"]] = (line, rating)
    if not samples:
        raise UserError.coded("import_no_samples", path=path)

    batch = str(uuid.uuid4())  # one import, one batch
    rows = []
    for index, (line, sample) in enumerate(samples.values()):
        try:
            rows.append(_checked(SampleRecord.from_dict({**sample, "source": "import"}), index, batch))
        except UserError as exc:
            raise UserError.coded("at_line", file=path.name, line=line, reason=exc) from None
    with store.transaction() as session:
        added = insert_checked(session, rows)  # a sample already stored (same content_hash) is not stored again
        sample_ids = dict(zip(samples, added.ids))
        given = {(sample_ids[key], rater): rating for (key, rater), (_, rating) in ratings.items()}
        stored = {(r.sample_id, r.rater): r for r in session.scalars(
            select(Rating).where(Rating.sample_id.in_({sample_id for sample_id, _ in given})))}
        for (sample_id, rater), rating in given.items():
            if (sample_id, rater) in stored:  # imported again: the file's rating replaces the stored one
                for column, value in rating.items():
                    setattr(stored[sample_id, rater], column, value)
            else:
                session.add(Rating(sample_id=sample_id, **rating))
    return {"samples": added.new, "existing": added.existing, "ratings": len(given)}


def _is_jsonl(path: Path, content: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    if suffix in (".csv", ".tsv"):
        return False
    return content.lstrip().startswith("{")


def _read_csv(path: Path, content: str) -> list[tuple[int, dict]]:
    reader = csv.reader(content.splitlines(keepends=True))
    try:
        header = next(reader, None)
        if header is None:
            return []
        header = [name.strip() for name in header]
        out = []
        while True:
            line = reader.line_num + 1  # where the record starts (a quoted cell may span lines)
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                raise UserError.coded("csv_cells", file=path.name, line=line, cells=len(cells), columns=len(header))
            out.append((line, dict(zip(header, map(_csv_text, cells)))))
        return out
    except csv.Error as exc:
        raise UserError.coded("line_not_csv", file=path.name, line=reader.line_num, reason=exc) from None


def _text(value) -> str | None:
    """A cell as text, or None when empty (CSV has no null: an empty cell is one)."""
    if value is None:
        return None
    value = str(value)
    return value if value.strip() else None


def _sample(record: dict, where: str) -> dict:
    """The row's sample fields, CSV text turned into their types (checked whole by SampleRecord on storing)."""
    out: dict = {}
    for key in ("model", "checkpoint", "run", "dataset", "config_name", "created"):
        value = _text(record.get(key))
        if value is not None:
            out[key] = value.strip()
    for key in ("prompt", "text"):  # kept exactly: a continuation's leading space is part of it
        if _text(record.get(key)) is not None:
            out[key] = str(record[key])
    for key in ("settings", "stats"):
        value = _object(record.get(key), key, where)
        if value is not None:
            out[key] = value
    for key in ("seed", "sample_index"):
        value = _whole(record.get(key), key, where)
        if value is not None:
            out[key] = value
    missing = [key for key in ("model", "prompt", "text") if key not in out]
    if missing:
        raise UserError.coded("row_lacks", where=where, missing=", ".join(missing))
    SampleRecord.from_dict(out, where=where)  # a wrong type, named with its line
    return out


def _object(value, name: str, where: str) -> dict | None:
    """A JSON object cell: a dict in JSONL, JSON text in CSV; empty is None."""
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError.coded("cell_not_json", where=where, name=name, value=repr(value[:60])) from None
    if value in (None, ""):
        return None
    if not isinstance(value, dict):
        raise UserError.coded("cell_not_object", where=where, name=name, type=type(value).__name__)
    return value


def _whole(value, name: str, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise UserError.coded("cell_not_int", where=where, name=name, value=repr(value))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise UserError.coded("cell_not_int", where=where, name=name, value=repr(value)) from None


def _rating(record: dict, where: str) -> dict | None:
    """The row's rating as Rating columns, None when it has no rater and no scores."""
    scores = {c: _whole(record.get(c), c, where) for c in CRITERIA}
    comment = _text(record.get("comment"))
    rater = _text(record.get("rater"))
    if rater is None:
        if any(v is not None for v in scores.values()) or comment is not None:
            raise UserError.coded("row_needs_rater", where=where)
        return None
    try:
        return {"rater": _rater(rater), **_scores(scores), "comment": comment}
    except UserError as exc:
        raise UserError.coded("at_where", where=where, reason=exc) from None
