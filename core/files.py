"""Writing a directory so that nobody ever sees it half-written, and replacing only directories the lab made.

A directory is written into a hidden staging folder beside its target, `.NAME.staging-PID-XXXX`, then renamed
into place. Listings skip hidden folders, so a save killed halfway shows nothing; the PID in the name tells the
next save whether the writer is gone, and then its leftovers are removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import psutil

from core.errors import UserError

# Given a folder, the names of the entries in it that the lab did not make (empty: it is the lab's to replace).
Foreign = Callable[[Path], list[str]]

_STAGING = re.compile(r"^\..+\.staging-(\d+)-.+$")  # .NAME.staging-PID-XXXX


def check_replaceable(out: Path, foreign: Foreign) -> None:
    """A UserError unless `out` is absent, an empty folder, or a folder that `foreign` finds nothing alien in."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError.coded("folder_not_ours", path=out)
    if not out.exists() or not any(out.iterdir()):
        return
    alien = foreign(out)
    if alien:
        raise UserError.coded("folder_has_foreign_files", path=out, example=alien[0])


def is_staging(path: Path) -> bool:
    """A staging folder of `staged_directory` (hidden, so listings that skip dot-names never show it)."""
    return bool(_STAGING.match(Path(path).name))


@contextmanager
def staged_directory(out: Path, foreign: Foreign):
    """Yield an empty folder beside `out`; when the block ends without error it replaces `out` in one rename.

    `out` is replaced only when `check_replaceable(out, foreign)` allows it, checked before and after the block.
    """
    out = Path(out)
    check_replaceable(out, foreign)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-", dir=out.parent))
    try:
        yield staging
        check_replaceable(out, foreign)  # the block may have run for minutes: look again just before replacing
        if out.exists():
            # Two renames rather than rmtree-then-rename: a kill in between leaves no target (never a half-deleted
            # one), and the old folder under a staging name, which the next save removes.
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-", dir=out.parent))
            os.replace(out, old / out.name)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(parent: Path) -> list[str]:
    """Remove the staging folders in `parent` whose writing process is gone; returns their names."""
    removed = []
    for path in Path(parent).iterdir() if Path(parent).is_dir() else []:
        match = _STAGING.match(path.name)
        if match and path.is_dir() and not path.is_symlink() and not psutil.pid_exists(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def fault(point: str) -> None:
    """Test hook (QUILL_FAULT=<point>, e.g. kill-during-save): die here as a killed process would."""
    if os.environ.get("QUILL_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def read_json(path: Path) -> tuple[object, str | None]:
    """(the parsed value, None) or (None, why it cannot be read, naming the file but never its content)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except OSError as exc:
        return None, f"{path.name} cannot be read ({exc.strerror or exc})"
    except ValueError:
        return None, f"{path.name} is not UTF-8 text"
    try:
        return json.loads(text), None
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return None, f"{path.name} is not valid JSON" + (" (empty)" if not text.strip() else " (truncated?)")


def check_output_file(out: Path, workspace, *, force: bool) -> Path:
    """A command's `--out FILE`, checked before any work: never a folder or one of the lab's own files (its
    database, a run's or a dataset's files: not even with --force), and an existing file only with `force`."""
    out = Path(out)
    if out.is_dir():
        raise UserError.coded("out_is_folder", path=out)
    if workspace.owns(out):
        raise UserError.coded("out_is_lab_file", path=out)
    if (out.exists() or out.is_symlink()) and not force:
        raise UserError.coded("out_exists", path=out)
    return out


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Replace a file's text so that a reader sees the old file or the new one, never half of one. The temp name is
    unique and in the same folder: two writers may write at once, and os.replace is atomic only within one file
    system."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_jsonl(path: Path, record: dict) -> None:
    """One record as one line: a reader sees whole lines, and at worst a last one without its newline (read_jsonl
    leaves that out)."""
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()


def read_jsonl(path: Path, check: Callable[[object], str | None] | None = None) -> tuple[list, str | None]:
    """The values of the lines that parse (and pass `check`, which says what is wrong with a value, or None), and
    why the first line that does not (or the file) cannot be read, naming the file but never its content. A missing
    file is no lines. A last line without its newline is one being appended right now (or was, when its writer was
    killed): left out."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], None
    except OSError as exc:
        return [], f"{path.name} cannot be read ({exc.strerror or exc})"
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()
    records, problem = [], None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, not_json = _json_line(line)
        wrong = "not valid JSON" if not_json else check(record) if check else None
        if wrong:
            problem = problem or f"{path.name} line {number}: {wrong}"
        else:
            records.append(record)
    return records, problem


def jsonl_objects(text: str, name: str) -> list[tuple[int, dict]]:
    """Strict reading of a JSONL file a user hands in whole (an import): (line number, object) for every non-blank
    line, or a UserError naming the first line that is not a JSON object, so that nothing of a bad file is taken.
    Unlike read_jsonl, a last line without its newline counts: nobody appends to such a file, and files written by
    hand often end so."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record, not_json = _json_line(line)
        if not_json:
            raise UserError.coded("line_not_json", file=name, line=number, reason=not_json)
        if not isinstance(record, dict):
            raise UserError.coded("line_not_object", file=name, line=number, type=type(record).__name__)
        out.append((number, record))
    return out


def _json_line(line: str) -> tuple[object, str | None]:
    """(the value, None) or (None, the parser's reason): one line of a JSONL file."""
    try:
        return json.loads(line), None
    except json.JSONDecodeError as exc:
        return None, exc.msg
    except RecursionError:  # nesting deeper than the parser's stack
        return None, "nested too deeply"


def read_json_object(path: Path) -> dict:
    """A JSON object file's content, {} when it is missing, unreadable or not an object (optional side files such
    as a dataset's report: their absence loses a detail, never the page)."""
    value, problem = read_json(Path(path))
    return value if problem is None and isinstance(value, dict) else {}
