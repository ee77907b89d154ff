"""Raters the owner invites: per-rater invitation codes for the rater-only mode, revocation, and exclusion from the
aggregates (their scores stay in the database).

A code is `<rater id>-<secret>`: the id finds the one row to check, so signing in costs one hash, not one per rater.
Only the secret's scrypt hash is stored. hashlib.scrypt (standard library) rather than bcrypt or argon2-cffi: it is
a memory-hard password hash already in every Python, and the secrets are random 128-bit tokens, not human passwords,
so no extra library would add strength.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import UserError
from core.ratings.store import Rater, Store, _rater

# scrypt's interactive-login parameters (RFC 7914 section 2: N=2^14, r=8, p=1): 16 MiB and tens of milliseconds
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class RaterInfo:
    """One row of `python -m core raters list` and of the owner's rater table."""

    id: int
    name: str
    invited: bool  # holds an invitation code (rater-only mode)
    revoked: bool
    excluded: bool
    created: datetime


def _hash(secret: str, salt: bytes) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def invite(store: Store, name: str) -> str:
    """A new invitation code for `name` (shown once, stored hashed); a new code replaces the rater's earlier one
    and lifts a revocation."""
    name = _rater(name)
    secret = secrets.token_urlsafe(16)
    stored = _hash(secret, secrets.token_bytes(16))
    with store.transaction() as session:
        row = session.scalar(select(Rater).where(Rater.name == name))
        if row is None:
            row = Rater(name=name, created=datetime.now(timezone.utc))
            session.add(row)
        row.code_hash, row.revoked = stored, None
        session.flush()
        return f"{row.id}-{secret}"


def sign_in(store: Store, code: str) -> RaterInfo:
    """The rater whose valid, unrevoked code this is; a UserError that says what to do otherwise."""
    rater_id, _, secret = (code or "").strip().partition("-")
    refused = UserError.coded("invitation_invalid")
    if not rater_id.isdigit() or not secret:
        raise refused
    with Session(store.engine) as session:
        row = session.get(Rater, int(rater_id))
        if row is None or row.code_hash is None or row.revoked is not None:
            raise refused
        _, salt, _ = row.code_hash.split("$")
        if not hmac.compare_digest(_hash(secret, bytes.fromhex(salt)), row.code_hash):
            raise refused
        return _info(row)


def active(store: Store, rater_id: int) -> bool:
    """Whether a signed-in rater's code still holds (checked on every page run, so a revocation applies at once)."""
    with Session(store.engine) as session:
        row = session.get(Rater, rater_id)
        return row is not None and row.code_hash is not None and row.revoked is None


def revoke(store: Store, name: str) -> None:
    with store.transaction() as session:
        row = _named(session, name)
        if row.code_hash is None:
            raise UserError.coded("rater_no_code", rater=repr(row.name))
        row.revoked = datetime.now(timezone.utc)


def set_excluded(store: Store, name: str, excluded: bool) -> None:
    """Leave a rater out of (or back in) the aggregates; their scores stay. Any rater name that has scores works,
    also one from a sign-in provider (it gets a row without a code)."""
    name = _rater(name)
    with store.transaction() as session:
        row = session.scalar(select(Rater).where(Rater.name == name))
        if row is None:
            row = Rater(name=name, created=datetime.now(timezone.utc))
            session.add(row)
        row.excluded = excluded


def excluded(store: Store) -> set[str]:
    with Session(store.engine) as session:
        return set(session.scalars(select(Rater.name).where(Rater.excluded.is_(True))))


def listed(store: Store) -> list[RaterInfo]:
    with Session(store.engine) as session:
        return [_info(row) for row in session.scalars(select(Rater).order_by(Rater.id))]


def _named(session, name: str) -> Rater:
    row = session.scalar(select(Rater).where(Rater.name == _rater(name)))
    if row is None:
        raise UserError.coded("rater_missing", rater=repr(name))
    return row


def _info(row: Rater) -> RaterInfo:
    created = row.created if row.created.tzinfo else row.created.replace(tzinfo=timezone.utc)
    return RaterInfo(id=row.id, name=row.name, invited=row.code_hash is not None, revoked=row.revoked is not None,
                     excluded=bool(row.excluded), created=created)
