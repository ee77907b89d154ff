"""Preference pairs (a prompt, a chosen and a rejected continuation) from what people already did in the lab:
blind A/B votes, 1-5 scores of samples of one prompt, and the Write page's accepts over the alternatives shown.

Each pair keeps its provenance (who, when, which models, settings and seeds, and the vote, ratings or choice it
came from). Every piece of evidence gives its pairs once: a sample stored twice (the same text of the same prompt)
counts as one text, and a rater's revised vote or score replaces the earlier one.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from pathlib import Path

from core.errors import UserError
from core.files import write_text_atomic
from core.ratings.choices import list_choices  # the Write page's accepts (dismissals give no pair)
from core.ratings.rubric import CRITERIA

SOURCES = ("vote", "score", "accept")  # where a pair came from
OVERALL = "overall"  # the mean of a rating's scored criteria, the default criterion for score pairs


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str  # the continuation people preferred
    rejected: str
    source: str  # one of SOURCES
    rater: str  # the voter, scorer or writer
    created: str | None = None  # ISO date and time of the vote, the later rating, or the choice
    criterion: str | None = None  # score pairs: the criterion (or OVERALL) they were compared on
    chosen_model: str | None = None
    rejected_model: str | None = None
    chosen_settings: dict | None = None  # the decoding settings of each side
    rejected_settings: dict | None = None
    chosen_seed: int | None = None
    rejected_seed: int | None = None
    origin: str = ""  # the evidence: "vote 12", "ratings 3>7", "choice <id>"

    def to_dict(self) -> dict:
        return asdict(self)


FIELDS = tuple(f.name for f in fields(Pair))


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _side(sample: dict, side: str) -> dict:
    return {f"{side}_model": sample.get("model"), f"{side}_settings": sample.get("settings"),
            f"{side}_seed": sample.get("seed")}


def _keep_latest(pairs: Iterable[tuple[tuple, Pair]]) -> list[Pair]:
    """One pair per key, the last given wins (a revised vote or score replaces the earlier one)."""
    kept: dict[tuple, Pair] = {}
    for key, pair in pairs:
        kept.pop(key, None)
        kept[key] = pair
    return list(kept.values())


def from_votes(store) -> list[Pair]:
    """Winner over loser of each blind A/B vote; ties and "both bad" give no pair."""
    samples = {s["id"]: s for s in store.samples()}
    found = []
    for vote in store.comparisons():
        if vote["outcome"] not in ("a", "b"):
            continue
        win, lose = (vote["sample_a"], vote["sample_b"]) if vote["outcome"] == "a" else (vote["sample_b"], vote["sample_a"])
        chosen, rejected = samples[win], samples[lose]
        if chosen["text"] == rejected["text"]:
            continue  # the same text sent twice: no preference to learn
        pair = Pair(prompt=chosen["prompt"], chosen=chosen["text"], rejected=rejected["text"], source="vote",
                    rater=vote["rater"], created=_iso(vote["created"]), **_side(chosen, "chosen"),
                    **_side(rejected, "rejected"), origin=f"vote {vote['id']}")
        # one vote per rater on the same two texts, whichever sample rows (a duplicate) they were stored in
        found.append(((vote["rater"], chosen["prompt"], frozenset((chosen["text"], rejected["text"]))), pair))
    return _keep_latest(found)


def score_of(rating: dict, criterion: str) -> float | None:
    """A rating's score on `criterion`, or the mean of its scored criteria for OVERALL; None where not scored."""
    if criterion != OVERALL:
        return rating.get(criterion)
    scored = [rating[c] for c in CRITERIA if rating.get(c) is not None]
    return sum(scored) / len(scored) if scored else None


def from_scores(store, margin: float = 1.0, criterion: str = OVERALL) -> list[Pair]:
    """Higher over lower of two samples of one prompt that one rater scored at least `margin` apart."""
    if criterion != OVERALL and criterion not in CRITERIA:
        raise UserError.coded("criterion_unknown", criterion=criterion, overall=OVERALL, criteria=", ".join(CRITERIA))
    if margin <= 0:
        raise UserError.coded("pairs_margin", margin=margin)
    by_text: dict[tuple, dict] = {}  # (rater, prompt, text) -> the rating; a text stored twice is one text
    for rating in store.ratings():
        if score_of(rating, criterion) is not None:
            by_text[(rating["rater"], rating["prompt"], rating["text"])] = rating
    groups: dict[tuple, list[dict]] = {}
    for (rater, prompt, _), rating in by_text.items():
        groups.setdefault((rater, prompt), []).append(rating)
    pairs = []
    for (rater, prompt), ratings in groups.items():
        for one, other in itertools.combinations(ratings, 2):
            high, low = (one, other) if score_of(one, criterion) >= score_of(other, criterion) else (other, one)
            if score_of(high, criterion) - score_of(low, criterion) < margin:
                continue
            pairs.append(Pair(prompt=prompt, chosen=high["text"], rejected=low["text"], source="score", rater=rater,
                              created=_iso(max(high["updated"], low["updated"])), criterion=criterion,
                              **_side(high, "chosen"), **_side(low, "rejected"),
                              origin=f"ratings {high['sample_id']}>{low['sample_id']}"))
    return pairs


def from_choices(choices: Iterable) -> list[Pair]:
    """The accepted continuation over each other one shown with it, from the Write page's choices (objects with
    the fields of core.ratings.choices.WriteChoice). A dismissal (nothing accepted) gives no pair."""
    found = []
    for choice in choices:
        if choice.action != "accept" or not choice.accepted:
            continue
        for other in dict.fromkeys(choice.shown):  # an alternative shown twice is one alternative
            if other == choice.accepted:
                continue
            pair = Pair(prompt=choice.context, chosen=choice.accepted, rejected=other, source="accept",
                        rater=choice.writer, created=_iso(choice.created_at), chosen_model=choice.model,
                        rejected_model=choice.model, chosen_settings=choice.setting, rejected_settings=choice.setting,
                        chosen_seed=choice.seed, rejected_seed=choice.seed, origin=f"choice {choice.id}")
            found.append(((choice.writer, choice.context, choice.accepted, other), pair))
    return _keep_latest(found)


def collect(store, choices: Iterable = (), margin: float = 1.0, criterion: str = OVERALL) -> list[Pair]:
    """Every pair the lab's evidence gives: votes, then scores, then accepts."""
    return from_votes(store) + from_scores(store, margin, criterion) + from_choices(choices)


def lab_pairs(store, margin: float = 1.0, criterion: str = OVERALL) -> list[Pair]:
    """Every pair the lab database gives: the one place the Write page's choices come in."""
    return collect(store, list_choices(store), margin, criterion)


def counts(pairs: Iterable[Pair]) -> dict[str, int]:
    """Pairs per source, every source named (0 where none)."""
    out = dict.fromkeys(SOURCES, 0)
    for pair in pairs:
        out[pair.source] += 1
    return out


def filtered(pairs: Iterable[Pair], *, rater: str | None = None, model: str | None = None,
           criterion: str | None = None, source: str | None = None, since: date | None = None,
           until: date | None = None) -> list[Pair]:
    """The pairs that match every filter given: a rater, a model (on either side), a score criterion (votes and
    accepts have none and are left out by one), a source, and a date range (both days included)."""
    def day(pair: Pair) -> date | None:
        return datetime.fromisoformat(pair.created).date() if pair.created else None

    return [p for p in pairs
            if (rater is None or p.rater == rater)
            and (model is None or model in (p.chosen_model, p.rejected_model))
            and (criterion is None or p.criterion == criterion)
            and (source is None or p.source == source)
            and (since is None or (day(p) is not None and day(p) >= since))
            and (until is None or (day(p) is not None and day(p) <= until))]


def held_out(pairs: list[Pair], share: float = 0.1, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(training, held-out) pairs: a fixed random share (at least one pair) held out to measure accuracy on."""
    if len(pairs) < 2:
        raise UserError.coded("pairs_too_few", count=len(pairs))
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n = min(len(pairs) - 1, max(1, round(len(pairs) * share)))
    held = set(order[:n])
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


def write(pairs: Iterable[Pair], path: str | Path) -> int:
    """One JSON object a line (prompt, chosen, rejected and the provenance): what `train --pairs` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs]
    write_text_atomic(path, "".join(lines))  # whole or not at all
    return len(lines)


def read(path: str | Path) -> list[Pair]:
    """The pairs of a JSONL file; a missing file, a line that is not a pair or an empty file is a UserError."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError.coded("pairs_file_unreadable", path=path, reason=getattr(exc, 'strerror', None) or exc) from exc
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise UserError.coded("pairs_line_not_json", path=path, line=number, reason=exc.msg) from exc
        if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("prompt", "chosen", "rejected")):
            raise UserError.coded("pairs_line_not_pair", path=path, line=number)
        known = {k: v for k, v in record.items() if k in FIELDS}
        pairs.append(Pair(**{"source": "vote", "rater": "", **known}))
    if not pairs:
        raise UserError.coded("pairs_file_empty", path=path)
    return pairs
