"""The lab database: generated samples with their full provenance, and the human ratings of them.

SQLite at `workspace/lab.sqlite` by default, or any SQLAlchemy URL in `QUILL_DB_URL` (PostgreSQL in CI).
The schema carries its own version and upgrades in place when the lab opens it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    or_,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, sessionmaker

from core.errors import UserError
from core.ratings.rubric import CRITERIA, OUTCOMES, SCORES
from core.ratings.schema import METADATA, WRITE_CHOICES, SampleRecord
from core.workspace import Workspace


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _score_checks() -> list[CheckConstraint]:
    """The database's own check that each criterion holds a score of the rubric (or nothing)."""
    return [CheckConstraint(f"{c} BETWEEN {min(SCORES)} AND {max(SCORES)}", name=f"ck_ratings_{c}") for c in CRITERIA]


class Base(DeclarativeBase):
    metadata = METADATA  # shared with the plain tables of core.ratings.schema, so a new database gets them all


class SchemaVersion(Base):
    """One row: the version of the schema this database is at."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class SampleRow(Base):
    """One generated text and exactly what produced it."""

    __tablename__ = "samples"
    id: Mapped[int] = mapped_column(primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    model: Mapped[str] = mapped_column(String(500), index=True)  # the name as the user gave it
    checkpoint: Mapped[str | None] = mapped_column(String(1000))  # the resolved location or checkpoint name
    run: Mapped[str | None] = mapped_column(String(200), index=True)
    dataset: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # one of SOURCES
    prompt: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)  # the continuation only
    settings: Mapped[dict | None] = mapped_column(JSON)  # the decoding config dict
    seed: Mapped[int | None]
    sample_index: Mapped[int | None]
    config_name: Mapped[str | None] = mapped_column(String(200))
    stats: Mapped[dict | None] = mapped_column(JSON)  # the sample statistics
    batch: Mapped[str] = mapped_column(String(36), index=True)  # a uuid shared by the samples generated together
    # The sample's identity (schema version 3): sending the same sample twice stores it once. NULL only on
    # duplicates that an older version stored before the hash existed (NULLs do not collide in a unique index).
    content_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)


class Rating(Base):
    """One rater's scores for one sample; a rater revising a score updates their row."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("sample_id", "rater"),
        *_score_checks(),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    rater: Mapped[str] = mapped_column(String(200))
    fluency: Mapped[int | None]
    coherence: Mapped[int | None]
    style: Mapped[int | None]
    repetition: Mapped[int | None]  # 5 = free of repetition
    comment: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)


class Comparison(Base):
    """One rater's blind A/B vote between two samples of the same prompt (schema version 2)."""

    __tablename__ = "comparisons"
    __table_args__ = (
        CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in OUTCOMES)})", name="ck_comparisons_outcome"),
        CheckConstraint("sample_a <> sample_b", name="ck_comparisons_distinct"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_a: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    sample_b: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    rater: Mapped[str] = mapped_column(String(200), index=True)
    outcome: Mapped[str] = mapped_column(String(10))  # one of OUTCOMES, as seen in the order shown (a, b)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class Rater(Base):
    """A person who rates (schema version 4): an invitation code's hash for the rater-only mode, and whether the
    owner left them out of the aggregates. Raters signed in through a provider get a row only when excluded."""

    __tablename__ = "raters"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(200))  # "scrypt$<salt hex>$<hash hex>" (core/ratings/raters.py)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # set: the code no longer signs in
    excluded: Mapped[bool] = mapped_column(default=False)  # kept out of the aggregates, scores kept


# --- schema versions ------------------------------------------------------------------------------------------
# Hand-written rather than Alembic: two tables, one process that owns them, and upgrades that must run by
# themselves when the lab opens a database; Alembic would add a config file, a script directory and a second
# command to learn for what is here a loop over a list. Revisit if the schema grows branches.


# Each step is frozen to the tables and columns of its own version (its own MetaData, not the models above),
# so that a database at version N upgrades to exactly what a new database of that version would have been.
_V1 = MetaData()
Table(
    "samples", _V1,
    Column("id", Integer, primary_key=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("model", String(500), nullable=False, index=True),
    Column("checkpoint", String(1000)),
    Column("run", String(200), index=True),
    Column("dataset", String(200)),
    Column("source", String(20), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("settings", JSON),
    Column("seed", Integer),
    Column("sample_index", Integer),
    Column("config_name", String(200)),
    Column("stats", JSON),
    Column("batch", String(36), nullable=False, index=True),
)
Table(
    "ratings", _V1,
    Column("id", Integer, primary_key=True),
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("rater", String(200), nullable=False),
    *(Column(c, Integer) for c in CRITERIA),
    Column("comment", Text),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("sample_id", "rater"),
    *_score_checks(),
)


def _v1(conn: Connection) -> None:
    """Version 1: samples and ratings."""
    _V1.create_all(conn)


def _v2(conn: Connection) -> None:
    """Version 2: the comparisons table for blind A/B votes. Samples and ratings are unchanged.

    Uses the model while version 2 is the newest; freeze it like `_v1` when a later version changes it.
    """
    Base.metadata.create_all(conn, tables=[Comparison.__table__])


def _v3(conn: Connection) -> None:
    """Version 3: samples get a unique content hash (their identity); existing samples are hashed in place.

    Portable SQL only (SQLite and PostgreSQL): ADD COLUMN, then a unique index. Duplicates stored before this
    version keep their rows and ratings; only the first of each gets the hash, the others stay NULL.
    """
    samples = Table(
        "samples", MetaData(),
        *(Column(name, Integer if name in ("id", "seed", "sample_index") else Text)
          for name in ("id", "model", "checkpoint", "prompt", "text", "seed", "sample_index")),
        Column("settings", JSON),
        Column("content_hash", String(64)),
    )
    conn.execute(sql_text("ALTER TABLE samples ADD COLUMN content_hash VARCHAR(64)"))
    seen: set[str] = set()
    for row in conn.execute(select(samples).order_by(samples.c.id)).mappings().all():
        digest = content_hash(row)
        if digest not in seen:
            seen.add(digest)
            conn.execute(samples.update().where(samples.c.id == row["id"]).values(content_hash=digest))
    Index("ix_samples_content_hash", samples.c.content_hash, unique=True).create(conn)


def _v4(conn: Connection) -> None:
    """Version 4: the raters table (invitation codes, exclusion from the aggregates). Other tables are unchanged.

    Uses the model while version 4 is the newest; freeze it like `_v1` when a later version changes it.
    """
    Base.metadata.create_all(conn, tables=[Rater.__table__])


def _v5(conn: Connection) -> None:
    """Version 5: the Write page's choices (accepted or dismissed suggestions). Other tables are unchanged."""
    METADATA.create_all(conn, tables=[WRITE_CHOICES])


# (version, step) in order; each step takes the database from the previous version to its own.
Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[int, Migration]] = [(1, _v1), (2, _v2), (3, _v3), (4, _v4), (5, _v5)]


IDENTITY = ("model", "checkpoint", "prompt", "settings", "seed", "sample_index", "text")


def content_hash(record) -> str:
    """A sample's identity: SHA-256 over its provenance and text (IDENTITY), as canonical JSON.

    The batch, creation time, stats and setting name are left out: the same text from the same model, settings,
    seed and index is the same sample however often it is sent.
    """
    values = [record.get(key) for key in IDENTITY]
    canonical = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def migrate(engine: Engine, migrations: list[tuple[int, Migration]] = MIGRATIONS) -> int:
    """Bring the database to the newest version in one transaction; returns that version.

    A new database gets today's tables at once; an older one runs the steps above its version, in order.
    """
    latest = migrations[-1][0]
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if not inspect(conn).has_table(SchemaVersion.__tablename__):
            Base.metadata.create_all(conn)
            conn.execute(SchemaVersion.__table__.insert().values(version=latest))
            return latest
        current = conn.scalar(select(SchemaVersion.version)) or 0
        if current > latest:
            raise UserError.coded("db_schema_newer", current=current, latest=latest)
        for version, step in migrations:
            if version > current:
                step(conn)
        conn.execute(SchemaVersion.__table__.delete())
        conn.execute(SchemaVersion.__table__.insert().values(version=latest))
        return latest


# --- engine ---------------------------------------------------------------------------------------------------


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL itself may wait on a lock
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, and the other way round
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # Let SQLAlchemy emit BEGIN itself: the driver's own handling skips it before DDL, so a migration
        # would not be one transaction (SQLAlchemy's documented recipe for Python < 3.12).
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the write lock up front: a deferred transaction that reads and then writes fails at once
        # with "database is locked" when another writer got in between, whatever the busy timeout.
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
    # ensure_ascii=False: Chinese prompts and settings stay readable in the database itself
    engine = create_engine(url, json_serializer=lambda obj: json.dumps(obj, ensure_ascii=False),
                           **_postgres_timeouts(parsed))
    if sqlite:
        _sqlite_setup(engine)
    elif parsed.get_driver_name() == "psycopg":
        _name_timeouts(engine, parsed)
    return engine


CONNECT_TIMEOUT_S = 5  # a PostgreSQL server that never answers fails the command or the page in seconds
STATEMENT_TIMEOUT_S = 60  # the slowest query the lab makes (an export of every rating) takes well under this


def _postgres_timeouts(parsed) -> dict:
    """create_engine options that bound every wait on a PostgreSQL server (libpq drivers); a URL's own win."""
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in ("psycopg", "psycopg2"):
        return {}
    connect_args = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    options = parsed.query.get("options", "")
    if "statement_timeout" not in str(options):
        connect_args["options"] = f"{options} -c statement_timeout={STATEMENT_TIMEOUT_S * 1000}".strip()
    return {"connect_args": connect_args, "pool_timeout": CONNECT_TIMEOUT_S * 2}


def _name_timeouts(engine: Engine, parsed) -> None:
    """A timed-out connection or query becomes a UserError that says which server, and what to do."""
    import psycopg.errors  # only here: SQLite needs no PostgreSQL driver

    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    connect_s = parsed.query.get("connect_timeout") or CONNECT_TIMEOUT_S  # the URL's own, when it sets one

    @event.listens_for(engine, "handle_error")
    def _on_error(context):
        error = context.original_exception
        if isinstance(error, psycopg.errors.ConnectionTimeout):
            raise UserError.coded("db_connect_timeout", where=where, seconds=connect_s) from error
        if isinstance(error, psycopg.errors.QueryCanceled):
            raise UserError.coded("db_query_timeout", where=where, seconds=STATEMENT_TIMEOUT_S) from error


def open_store(url: str | None = None) -> Store:
    """Open (creating or upgrading as needed) the lab database at `url`, `QUILL_DB_URL`, or the workspace's."""
    url = url or Workspace.from_env().db_url
    try:
        engine = _engine(url)
        migrate(engine)
    except (SQLAlchemyError, OSError) as exc:  # OSError: its folder cannot be made (a read-only disk)
        shown = make_url(url).render_as_string(hide_password=True)
        reason = getattr(exc, "orig", None) or exc
        raise UserError.coded("db_cannot_open", url=shown, reason=reason) from exc
    return Store(engine)


# --- the store ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    """What `Store.insert_samples` did: each record's id (new or existing), and how many were new or already there."""

    ids: list[int]
    new: int
    existing: int


class Store:
    """Samples and ratings. One engine and one session factory; safe to share between threads."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A short session that writes in one transaction: committed on exit, rolled back on an error."""
        with self._writes.begin() as session:
            yield session

    def add_samples(self, records: Iterable[SampleRecord | dict]) -> list[int]:
        """Store samples (records, or their JSON form); returns their ids in order. Records without a `batch`
        share one new batch id. A bad record is a UserError naming it, and then nothing is stored.

        Idempotent: a sample already stored (same content_hash) is not added again; its existing id is returned.
        """
        return self.insert_samples(records).ids

    def insert_samples(self, records: Iterable[SampleRecord | dict]) -> Added:
        """Store the samples not yet in the database: their ids in order, and how many were new or already there."""
        records = list(records)
        batch = str(uuid.uuid4())
        checked = [_checked(record, i, batch) for i, record in enumerate(records)]
        with self.transaction() as session:  # a write transaction: no other writer between the look-up and insert
            return insert_checked(session, checked)

    def samples(
        self, limit: int | None = None, model: str | None = None, run: str | None = None, batch: str | None = None
    ) -> list[dict]:
        """Samples in the order they were added, optionally only those of one model, run or batch."""
        query = select(SampleRow).order_by(SampleRow.id).limit(limit)
        for column, value in ((SampleRow.model, model), (SampleRow.run, run), (SampleRow.batch, batch)):
            if value is not None:
                query = query.where(column == value)
        with self._reads() as session:
            return [_as_dict(row) for row in session.scalars(query)]

    def count_samples(self) -> int:
        with self._reads() as session:
            return session.scalar(select(func.count()).select_from(SampleRow)) or 0

    def count_rated_samples(self) -> int:
        """Samples with at least one rating (what the Home page shows)."""
        with self._reads() as session:
            return session.scalar(select(func.count(func.distinct(Rating.sample_id)))) or 0

    # --- the rating sheet -------------------------------------------------------------------------------------

    def rate(self, sample_id: int, rater: str, scores: dict, comment: str = "") -> None:
        """Insert or revise `rater`'s rating of a sample: one row per (sample, rater), `updated` set to now.

        `scores` maps criteria (CRITERIA) to 1-5 or None (not scored); a criterion left out is None, so a
        revision replaces the rater's whole earlier rating. Bad input is a UserError and changes nothing.
        """
        rater = _rater(rater)
        values = _scores(scores)
        if comment is not None and not isinstance(comment, str):
            raise UserError.coded("comment_not_text", type=type(comment).__name__)
        now = _utcnow()
        row = {"sample_id": _sample_id(sample_id), "rater": rater, **values, "comment": comment or None}
        with self.transaction() as session:
            _require_samples(session, [row["sample_id"]])
            dialect = session.get_bind().dialect.name
            if dialect in ("sqlite", "postgresql"):  # one atomic statement, also against a concurrent insert
                insert = (sqlite_dialect if dialect == "sqlite" else pg_dialect).insert(Rating)
                changed = {**values, "comment": row["comment"], "updated": now}
                session.execute(
                    insert.values(**row, created=now, updated=now).on_conflict_do_update(
                        index_elements=["sample_id", "rater"], set_=changed
                    )
                )
                return
            existing = session.scalar(select(Rating).where(Rating.sample_id == row["sample_id"], Rating.rater == rater))
            if existing is None:
                session.add(Rating(**row, created=now, updated=now))
            else:
                for key, value in {**values, "comment": row["comment"], "updated": now}.items():
                    setattr(existing, key, value)

    def ratings(self, sample_ids: list[int] | None = None, rater: str | None = None) -> list[dict]:
        """Ratings in the order first given, each joined with its sample's provenance.

        Keys: id (the rating's), sample_id, rater, the CRITERIA, comment, created, updated, and the sample's
        model, checkpoint, run, dataset, source, settings, seed, config_name, prompt, text, sample_created.
        """
        query = select(Rating, SampleRow).join(SampleRow, Rating.sample_id == SampleRow.id).order_by(Rating.id)
        if sample_ids is not None:
            query = query.where(Rating.sample_id.in_(list(sample_ids)))
        if rater is not None:
            query = query.where(Rating.rater == rater)
        with self._reads() as session:
            return [_rating_dict(rating, sample) for rating, sample in session.execute(query)]

    def next_unrated(
        self, rater: str, source: str | None = None, skip: Iterable[int] = (), shuffled: bool = False
    ) -> dict | None:
        """The next sample to rate: the first (in the order added) that `rater` has not rated, leaving out the ids
        in `skip` (those skipped on the sheet); only samples of `source` if given. None when all are rated.

        `shuffled` (blind rating): a fixed order of the rater's own instead, so the order the samples were made
        in (and with it their settings) does not show; a multiplicative hash of the id in SQL, so the queue is
        never loaded."""
        rater = _rater(rater)
        rated = select(Rating.sample_id).where(Rating.rater == rater)
        order = (SampleRow.id * _HASH_MULTIPLIER + zlib.crc32(rater.encode())) % _HASH_MODULUS if shuffled else SampleRow.id
        query = select(SampleRow).where(SampleRow.id.not_in(rated)).order_by(order, SampleRow.id).limit(1)
        skip = list(skip)
        if skip:
            query = query.where(SampleRow.id.not_in(skip))
        if source is not None:
            query = query.where(SampleRow.source == source)
        with self._reads() as session:
            row = session.scalar(query)
            return _as_dict(row) if row is not None else None

    def sample(self, sample_id: int) -> dict | None:
        """One sample by its id, None when there is none."""
        with self._reads() as session:
            row = session.get(SampleRow, _sample_id(sample_id))
            return _as_dict(row) if row is not None else None

    def progress(self, rater: str, source: str | None = None) -> tuple[int, int]:
        """(samples `rater` has rated, samples in all), both only of `source` if given: "12 / 40 rated"."""
        rater = _rater(rater)
        total = select(func.count()).select_from(SampleRow)
        rated = select(func.count()).select_from(Rating).join(SampleRow).where(Rating.rater == rater)
        if source is not None:
            total, rated = total.where(SampleRow.source == source), rated.where(SampleRow.source == source)
        with self._reads() as session:
            return session.scalar(rated) or 0, session.scalar(total) or 0

    # --- blind comparisons ------------------------------------------------------------------------------------

    def vote(self, a: int, b: int, rater: str, outcome: str) -> int:
        """Record `rater`'s vote between samples `a` and `b` (as shown: a first) of the same prompt; returns its id.

        `outcome`: "a" (A better), "b" (B better), "tie" or "both_bad". A rater voting again on the same pair
        (in either order) replaces their earlier vote.
        """
        rater = _rater(rater)
        a, b = _sample_id(a), _sample_id(b)
        if outcome not in OUTCOMES:
            raise UserError.coded("outcome_unknown", outcome=repr(outcome), outcomes=", ".join(OUTCOMES))
        if a == b:
            raise UserError.coded("comparison_same_sample", sample=a)
        with self.transaction() as session:
            _require_samples(session, [a, b])
            prompts = session.scalars(select(SampleRow.prompt).where(SampleRow.id.in_([a, b]))).all()
            if len(set(prompts)) != 1:
                raise UserError.coded("comparison_prompts_differ", a=a, b=b)
            session.execute(
                Comparison.__table__.delete().where(Comparison.rater == rater, _same_pair(a, b))
            )
            row = Comparison(sample_a=a, sample_b=b, rater=rater, outcome=outcome, created=_utcnow())
            session.add(row)
            session.flush()
            return row.id

    def comparisons(self, rater: str | None = None) -> list[dict]:
        """Votes in the order given: id, sample_a, sample_b, rater, outcome, created, prompt, and each side's
        provenance as model_a/model_b, checkpoint_a/_b, run_a/_b and config_a/_b (its config_name), for rankings
        per setting or checkpoint."""
        side_a, side_b = aliased(SampleRow), aliased(SampleRow)
        query = (
            select(Comparison, side_a, side_b)
            .join(side_a, Comparison.sample_a == side_a.id)
            .join(side_b, Comparison.sample_b == side_b.id)
            .order_by(Comparison.id)
        )
        if rater is not None:
            query = query.where(Comparison.rater == rater)
        out = []
        with self._reads() as session:
            for vote, a, b in session.execute(query):
                row = {c.key: getattr(vote, c.key) for c in Comparison.__table__.columns}
                row["created"] = _utc(row["created"])
                row["prompt"] = a.prompt
                for side, sample in (("a", a), ("b", b)):
                    for key in ("model", "checkpoint", "run"):
                        row[f"{key}_{side}"] = getattr(sample, key)
                    row[f"config_{side}"] = sample.config_name
                out.append(row)
        return out

    def pair_for(self, rater: str, rng_seed: int | None = None) -> tuple[dict, dict] | None:
        """Two samples of the same prompt that `rater` has not yet compared, in a shuffled order (blind), or None.

        Chosen at random among all such pairs with `random.Random(rng_seed)`: the same seed on the same
        database gives the same pair.
        """
        rater = _rater(rater)
        with self._reads() as session:
            ids_by_prompt: dict[str, list[int]] = {}
            for sample_id, prompt in session.execute(select(SampleRow.id, SampleRow.prompt).order_by(SampleRow.id)):
                ids_by_prompt.setdefault(prompt, []).append(sample_id)
            done = {
                frozenset(pair)
                for pair in session.execute(
                    select(Comparison.sample_a, Comparison.sample_b).where(Comparison.rater == rater)
                )
            }
            candidates = [
                pair
                for ids in ids_by_prompt.values()
                for pair in itertools.combinations(ids, 2)
                if frozenset(pair) not in done
            ]
            if not candidates:
                return None
            rng = random.Random(rng_seed)
            pair = list(rng.choice(candidates))
            rng.shuffle(pair)
            rows = {row.id: row for row in session.scalars(select(SampleRow).where(SampleRow.id.in_(pair)))}
            return _as_dict(rows[pair[0]]), _as_dict(rows[pair[1]])

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def insert_checked(session: Session, rows: list[dict]) -> Added:
    """Inside the caller's write transaction: add the checked rows (SampleRow columns) not yet stored, by content_hash.

    The one idempotent add: "Send to ratings", the gallery and `ratings import` all go through it.
    """
    hashes = [content_hash(row) for row in rows]
    ids = dict(session.execute(select(SampleRow.content_hash, SampleRow.id).where(SampleRow.content_hash.in_(hashes))).tuples().all())
    fresh = {}
    for row, digest in zip(rows, hashes):
        if digest not in ids and digest not in fresh:
            fresh[digest] = SampleRow(**row, content_hash=digest)
    session.add_all(fresh.values())
    session.flush()
    ids.update({digest: row.id for digest, row in fresh.items()})
    return Added(ids=[ids[digest] for digest in hashes], new=len(fresh), existing=len(rows) - len(fresh))


def _checked(record: SampleRecord | dict, index: int, batch: str) -> dict:
    """The record as SampleRow columns, or a UserError that says which sample and which field is wrong."""
    where = f"sample {index + 1}"
    if not isinstance(record, SampleRecord):
        record = SampleRecord.from_dict(record, where=where)
    row = {key: value for key, value in record.validate(where).to_dict().items() if value is not None}
    row.setdefault("batch", batch)
    if isinstance(row.get("created"), str):  # imports carry the original time as ISO text
        try:
            row["created"] = datetime.fromisoformat(row["created"])
        except ValueError:
            raise UserError.coded("created_not_iso", where=where, created=repr(row['created'])) from None
    if "created" in row:  # stored as UTC (SQLite keeps no zone); a time without a zone is taken as UTC already
        created = row["created"]
        if created.tzinfo is None:
            row["created"] = created.replace(tzinfo=timezone.utc)
        else:
            row["created"] = created.astimezone(timezone.utc)
    return row


def _utc(value: datetime | None) -> datetime | None:
    # SQLite keeps no time zone; every time written here was UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _as_dict(row: SampleRow) -> dict:
    out = {column.key: getattr(row, column.key) for column in SampleRow.__table__.columns}
    out["created"] = _utc(out["created"])
    return out


# Knuth's multiplicative hash (2^32 / golden ratio) modulo the largest 32-bit prime: a fixed shuffle of the ids
# that SQLite and PostgreSQL compute alike in 64-bit integers.
_HASH_MULTIPLIER, _HASH_MODULUS = 2654435761, 4294967291

SAMPLE_FIELDS = ("model", "checkpoint", "run", "dataset", "source", "settings", "seed", "config_name", "prompt", "text")


def _rating_dict(rating: Rating, sample: SampleRow) -> dict:
    out = {column.key: getattr(rating, column.key) for column in Rating.__table__.columns}
    out["created"], out["updated"] = _utc(out["created"]), _utc(out["updated"])
    out.update({key: getattr(sample, key) for key in SAMPLE_FIELDS})
    out["sample_created"] = _utc(sample.created)
    return out


def _rater(rater) -> str:
    if not isinstance(rater, str) or not rater.strip():
        raise UserError.coded("rater_name_missing")
    if len(rater.strip()) > 200:
        raise UserError.coded("rater_name_long")
    return rater.strip()


def _sample_id(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError.coded("sample_id_bad", value=repr(value))
    return value


def _scores(scores) -> dict:
    """The scores as one value per criterion (None where not given), or a UserError naming the bad one."""
    if not isinstance(scores, dict):
        raise UserError.coded("scores_not_dict", type=type(scores).__name__)
    unknown = sorted(set(scores) - set(CRITERIA), key=str)
    if unknown:
        raise UserError.coded("criteria_unknown", unknown=", ".join(map(str, unknown)), known=", ".join(CRITERIA))
    out = {}
    for criterion in CRITERIA:
        value = scores.get(criterion)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value not in SCORES):
            raise UserError.coded("score_bad", criterion=criterion, value=repr(value))
        out[criterion] = value
    return out


def _require_samples(session: Session, ids: list[int]) -> None:
    found = set(session.scalars(select(SampleRow.id).where(SampleRow.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise UserError.coded("sample_missing", ids=", ".join(map(str, missing)))


def _same_pair(a: int, b: int):
    return or_(
        and_(Comparison.sample_a == a, Comparison.sample_b == b),
        and_(Comparison.sample_a == b, Comparison.sample_b == a),
    )
