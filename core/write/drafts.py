"""Drafts: the text being written on the Write page, saved in `workspace/drafts/<name>/draft.json`.

A draft keeps the provenance of each accepted span (model, checkpoint, setting, seed, and its tokens with their
candidates for the token view), and an undo/redo history of whole states: a draft is short text, so a snapshot
per accept, branch or edit is simpler and safer than replaying operations.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import UserError
from core.files import write_text_atomic
from core.workspace import Workspace

FILE = "draft.json"
HISTORY = 50  # undo steps kept per draft
_NAME = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][\w.\-\u4e00-\u9fff ]{0,63}$")


@dataclass
class Span:
    """An accepted continuation: characters [start, end) of the draft's text, and what wrote them."""

    start: int
    end: int
    model: str
    checkpoint: str | None
    setting: str  # the decoding setting's name
    settings: dict  # the decoding setting itself (DecodingConfig.to_dict())
    seed: int
    sample_index: int
    sample: dict | None = None  # the Playground's Sample (prompt, tokens, log-probs, candidates): the token view


@dataclass
class Draft:
    name: str
    text: str = ""
    memory: str = ""  # title, form, instructions: kept in front of the context
    spans: list[Span] = field(default_factory=list)
    undo: list[dict] = field(default_factory=list)  # earlier states: {"text", "spans"}
    redo: list[dict] = field(default_factory=list)

    def state(self) -> dict:
        return {"text": self.text, "spans": [asdict(s) for s in self.spans]}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Draft:
        spans = [Span(**s) for s in data.get("spans", [])]
        return cls(name=data["name"], text=data.get("text", ""), memory=data.get("memory", ""), spans=spans,
                   undo=data.get("undo", []), redo=data.get("redo", []))


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise UserError.coded("draft_name_bad", name=name)
    return name


def folder(workspace: Workspace) -> Path:
    return workspace.root / "drafts"


def rater_home(workspace: Workspace, rater: str) -> Workspace:
    """Where a rater's drafts live (`folder(rater_home(...))`), apart from the owner's and each other's. The folder
    is named by a hash of the rater's name: an e-mail address or invited name is not always a safe folder name."""
    return Workspace(workspace.root / "rater_drafts" / hashlib.sha256(rater.encode()).hexdigest()[:16])


def names(workspace: Workspace) -> list[str]:
    """Saved drafts, most recently changed first."""
    root = folder(workspace)
    found = [p for p in root.iterdir() if (p / FILE).is_file()] if root.is_dir() else []
    return [p.name for p in sorted(found, key=lambda p: (p / FILE).stat().st_mtime, reverse=True)]


def load(workspace: Workspace, name: str) -> Draft:
    path = folder(workspace) / check_name(name) / FILE
    if not path.is_file():
        raise UserError.coded("draft_missing", name=name)
    try:
        return Draft.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError.coded("draft_damaged", path=path, reason=exc) from exc


def save(workspace: Workspace, draft: Draft) -> None:
    path = folder(workspace) / check_name(draft.name)
    path.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path / FILE, json.dumps(draft.to_dict(), ensure_ascii=False))


def create(workspace: Workspace, name: str) -> Draft:
    if (folder(workspace) / check_name(name) / FILE).exists():
        raise UserError.coded("draft_exists", name=name)
    draft = Draft(name=check_name(name))
    save(workspace, draft)
    return draft


def rename(workspace: Workspace, old: str, new: str) -> Draft:
    source, target = folder(workspace) / check_name(old), folder(workspace) / check_name(new)
    if target.exists():
        raise UserError.coded("draft_rename_taken", name=new)
    draft = load(workspace, old)
    source.rename(target)
    draft.name = check_name(new)
    save(workspace, draft)
    return draft


def _remember(draft: Draft) -> None:
    draft.undo = [*draft.undo, draft.state()][-HISTORY:]
    draft.redo = []


def _restore(draft: Draft, state: dict) -> None:
    draft.text = state["text"]
    draft.spans = [Span(**s) for s in state["spans"]]


def accept(draft: Draft, text: str, span: Span) -> Draft:
    """Append an accepted continuation; `span`'s start and end are set here."""
    _remember(draft)
    span.start, span.end = len(draft.text), len(draft.text) + len(text)
    draft.text += text
    draft.spans.append(span)
    return draft


def replace(draft: Draft, index: int, text: str, span: Span) -> Draft:
    """Put `text` in place of span `index` (a branch), moving the spans after it."""
    _remember(draft)
    old = draft.spans[index]
    shift = len(text) - (old.end - old.start)
    draft.text = draft.text[: old.start] + text + draft.text[old.end :]
    span.start, span.end = old.start, old.start + len(text)
    draft.spans = [*draft.spans[:index], span,
                   *(_moved(s, shift) for s in draft.spans[index + 1 :])]
    return draft


def _moved(span: Span, shift: int) -> Span:
    span.start, span.end = span.start + shift, span.end + shift
    return span


def edit(draft: Draft, text: str) -> Draft:
    """The writer changed the text by hand: spans they left untouched keep their provenance (moved with the text
    around them, matched by difflib); a span they changed becomes theirs."""
    if text == draft.text:
        return draft
    _remember(draft)
    blocks = difflib.SequenceMatcher(None, draft.text, text, autojunk=False).get_matching_blocks()
    kept = []
    for span in draft.spans:
        for a, b, size in blocks:
            if a <= span.start and span.end <= a + size:
                kept.append(_moved(span, b - a))
                break
    draft.text, draft.spans = text, kept
    return draft


def undo(draft: Draft) -> Draft:
    if draft.undo:
        draft.redo = [*draft.redo, draft.state()]
        _restore(draft, draft.undo[-1])
        draft.undo = draft.undo[:-1]
    return draft


def redo(draft: Draft) -> Draft:
    if draft.redo:
        draft.undo = [*draft.undo, draft.state()]
        _restore(draft, draft.redo[-1])
        draft.redo = draft.redo[:-1]
    return draft


def export(draft: Draft, kind: str) -> str:
    """The draft as .txt or .md: the text, then which model, checkpoint and setting wrote each accepted span."""
    lines = [f"- {s.start}-{s.end} {draft.text[s.start:s.end]!r}: {s.model} ({s.checkpoint}), "
             f"setting {s.setting}, seed {s.seed}" for s in draft.spans]
    if kind == "md":
        head = f"# {draft.name}\n\n" + (f"> {draft.memory}\n\n" if draft.memory else "")
        return head + draft.text + ("\n\n## Provenance\n\n" + "\n".join(lines) + "\n" if lines else "\n")
    if kind == "txt":
        return draft.text + ("\n\n---\n" + "\n".join(lines) + "\n" if lines else "\n")
    raise UserError.coded("draft_export_kind", kind=kind)
