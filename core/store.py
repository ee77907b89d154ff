"""The lab database: generated samples with their full provenance, and the human ratings of them.

SQLite at `workspace/lab.sqlite` by default, or any SQLAlchemy URL in `QUILL_DB_URL` (PostgreSQL in CI).
The schema carries its own version and upgrades in place when the lab opens it.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from core.errors import UserError
from core.workspace import Workspace

SOURCES = ("playground", "gallery", "import")
CRITERIA = ("fluency", "coherence", "style", "repetition")

REQUIRED = ("model", "source", "prompt", "text")
OPTIONAL = (
    "checkpoint", "run", "dataset", "settings", "seed", "sample_index", "config_name", "stats", "batch", "created",
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    """One row: the version of the schema this database is at."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class Sample(Base):
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


class Rating(Base):
    """One rater's scores for one sample; a rater revising a score updates their row."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("sample_id", "rater"),
        *(CheckConstraint(f"{c} BETWEEN 1 AND 5", name=f"ck_ratings_{c}") for c in CRITERIA),
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


# --- schema versions ------------------------------------------------------------------------------------------
# Hand-written rather than Alembic: two tables, one process that owns them, and upgrades that must run by
# themselves when the lab opens a database; Alembic would add a config file, a script directory and a second
# command to learn for what is here a loop over a list. Revisit if the schema grows branches.


def _v1(conn: Connection) -> None:
    # v1 is the schema the models above define. When a later version changes one of these tables, freeze this
    # step to the v1 columns (the upgrade-from-version-0 test fails until then).
    Base.metadata.create_all(conn, tables=[Sample.__table__, Rating.__table__])


# (version, step) in order; each step takes the database from the previous version to its own.
Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[int, Migration]] = [(1, _v1)]


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
            raise UserError(
                f"the lab database is at schema version {current}, newer than this Quill Lab knows ({latest}); "
                "update Quill Lab or point QUILL_DB_URL at another database"
            )
        for version, step in migrations:
            if version > current:
                step(conn)
        conn.execute(SchemaVersion.__table__.delete())
        conn.execute(SchemaVersion.__table__.insert().values(version=latest))
        return latest


# --- engine ---------------------------------------------------------------------------------------------------


def database_url() -> str:
    """`QUILL_DB_URL` if set, else the workspace's `lab.sqlite`."""
    return os.environ.get("QUILL_DB_URL") or f"sqlite:///{Workspace.from_env().db_path}"


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
    engine = create_engine(url, json_serializer=lambda obj: json.dumps(obj, ensure_ascii=False))
    if sqlite:
        _sqlite_setup(engine)
    return engine


def open_store(url: str | None = None) -> Store:
    """Open (creating or upgrading as needed) the lab database at `url`, `QUILL_DB_URL`, or the workspace's."""
    url = url or database_url()
    try:
        engine = _engine(url)
        migrate(engine)
    except SQLAlchemyError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = getattr(exc, "orig", None) or exc
        raise UserError(f"cannot open the lab database {shown}: {reason}; check QUILL_DB_URL") from exc
    return Store(engine)


# --- the store ------------------------------------------------------------------------------------------------


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

    def add_samples(self, records: list[dict]) -> list[int]:
        """Store samples; returns their ids in order. Records without a `batch` share one new batch id."""
        batch = str(uuid.uuid4())
        rows = [Sample(**_checked(record, i, batch)) for i, record in enumerate(records)]
        with self.transaction() as session:
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def samples(
        self, limit: int | None = None, model: str | None = None, run: str | None = None, batch: str | None = None
    ) -> list[dict]:
        """Samples in the order they were added, optionally only those of one model, run or batch."""
        query = select(Sample).order_by(Sample.id).limit(limit)
        for column, value in ((Sample.model, model), (Sample.run, run), (Sample.batch, batch)):
            if value is not None:
                query = query.where(column == value)
        with self._reads() as session:
            return [_as_dict(row) for row in session.scalars(query)]

    def count_samples(self) -> int:
        with self._reads() as session:
            return session.scalar(select(func.count()).select_from(Sample)) or 0

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _checked(record: dict, index: int, batch: str) -> dict:
    """The record as Sample columns, or a UserError that says which sample and which field is wrong."""
    where = f"sample {index + 1}"
    missing = [key for key in REQUIRED if record.get(key) is None]
    if missing:
        raise UserError(f"{where} lacks {', '.join(missing)}; every sample needs {', '.join(REQUIRED)}")
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise UserError(f"{where} has unknown fields {', '.join(unknown)}; known: {', '.join(REQUIRED + OPTIONAL)}")
    if record["source"] not in SOURCES:
        raise UserError(f"{where} has source {record['source']!r}; use one of {', '.join(SOURCES)}")
    for key in ("settings", "stats"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            raise UserError(f"{where}: {key} must be a dict, not {type(record[key]).__name__}")
    row = {key: record[key] for key in REQUIRED + OPTIONAL if record.get(key) is not None}
    row.setdefault("batch", batch)
    if isinstance(row.get("created"), str):  # imports carry the original time as ISO text
        try:
            row["created"] = datetime.fromisoformat(row["created"])
        except ValueError:
            raise UserError(f"{where}: created {row['created']!r} is not an ISO date and time") from None
    if "created" in row:  # stored as UTC (SQLite keeps no zone); a time without a zone is taken as UTC already
        created = row["created"]
        if created.tzinfo is None:
            row["created"] = created.replace(tzinfo=timezone.utc)
        else:
            row["created"] = created.astimezone(timezone.utc)
    return row


def _as_dict(row: Sample) -> dict:
    out = {column.key: getattr(row, column.key) for column in Sample.__table__.columns}
    # SQLite keeps no time zone; every time written here was UTC
    if out["created"] is not None and out["created"].tzinfo is None:
        out["created"] = out["created"].replace(tzinfo=timezone.utc)
    return out
