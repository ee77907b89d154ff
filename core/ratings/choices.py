"""The Write page's choices as data: each time a writer accepts one of the shown suggestions, or dismisses them
all, one row in `write_choices`. An accept is an implicit preference (the accepted text over every other one shown,
same prompt: the draft's context); the Ratings results show these as their own source beside blind A/B votes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import insert, select

from core.errors import UserError
from core.ratings.schema import CHOICE_ACTIONS, WRITE_CHOICES


@dataclass
class WriteChoice:
    id: int
    created_at: datetime
    writer: str  # the rater is the writer
    draft: str
    context: str  # the model's input when the suggestions were made
    accepted: str | None  # the text taken; None when dismissed
    shown: list[str]  # every alternative shown, in order
    model: str
    checkpoint: str | None
    setting: dict  # the decoding setting (DecodingConfig.to_dict())
    seed: int | None
    action: str  # "accept" or "dismiss"


def record_choice(store, *, writer: str, draft: str, context: str, accepted: str | None, shown: list[str], model: str,
                  checkpoint: str | None, setting: dict, seed: int | None, action: str) -> int:
    """Store one choice; returns its id. An accept names a text among those shown; a dismiss names none."""
    if action not in CHOICE_ACTIONS:
        raise UserError.coded("choice_action_unknown", actions=", ".join(CHOICE_ACTIONS), action=repr(action))
    if action == "accept" and accepted not in shown:
        raise UserError.coded("choice_not_shown")
    if action == "dismiss" and accepted is not None:
        raise UserError.coded("choice_dismiss_accepts")
    if not writer.strip():
        raise UserError.coded("choice_needs_writer")
    row = {"created_at": datetime.now(timezone.utc), "writer": writer.strip(), "draft": draft, "context": context,
           "accepted": accepted, "shown": list(shown), "model": model, "checkpoint": checkpoint,
           "setting": dict(setting), "seed": seed, "action": action}
    with store.transaction() as session:
        return session.execute(insert(WRITE_CHOICES).values(**row).returning(WRITE_CHOICES.c.id)).scalar_one()


def list_choices(store) -> list[WriteChoice]:
    """Every choice, oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(WRITE_CHOICES).order_by(WRITE_CHOICES.c.id)).mappings().all()
    return [WriteChoice(**{**row, "created_at": _utc(row["created_at"])}) for row in rows]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite hands back naive times


def preferences(choices: list[WriteChoice]) -> list[tuple[str, str, str]]:
    """(context, accepted, rejected) for every accept and every other distinct text shown with it: the implicit
    preference pairs, each counted once per choice."""
    pairs = []
    for choice in choices:
        if choice.action == "accept":
            others = dict.fromkeys(t for t in choice.shown if t != choice.accepted)
            pairs += [(choice.context, choice.accepted, other) for other in others]
    return pairs


def summary(choices: list[WriteChoice]) -> list[dict]:
    """Per (model, setting): how often its suggestions were accepted or dismissed, and the preference pairs the
    accepts give. One row per choice is counted once: a choice is one showing of alternatives."""
    rows: dict[tuple, dict] = {}
    for choice in choices:
        key = (choice.model, choice.setting.get("name", ""))
        row = rows.setdefault(key, {"model": key[0], "setting": key[1], "shown": 0, "accepted": 0, "dismissed": 0,
                                    "pairs": 0, "writers": set()})
        row["shown"] += 1
        row["accepted" if choice.action == "accept" else "dismissed"] += 1
        row["writers"].add(choice.writer)
        if choice.action == "accept":
            row["pairs"] += len(set(choice.shown) - {choice.accepted})
    return [{**row, "writers": len(row["writers"]), "accept_rate": row["accepted"] / row["shown"]}
            for row in rows.values()]
