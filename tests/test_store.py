"""The lab database on real SQLite files: provenance round trip, WAL, reopening, upgrades, threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, inspect, text

from core import store as store_module
from core.errors import UserError
from core.store import Rating, open_store
from core.workspace import Workspace


def url(path) -> str:
    return f"sqlite:///{path}"


def record(**extra) -> dict:
    return {
        "model": "gpt2",
        "checkpoint": "/ws/runs/run-1/checkpoint-200",
        "run": "run-1",
        "dataset": "poems",
        "source": "playground",
        "prompt": "Once upon a time",
        "text": " there was a lab.",
        "settings": {"do_sample": True, "temperature": 1.2, "top_k": 50, "top_p": 0.9, "max_new_tokens": 64},
        "seed": 7,
        "sample_index": 0,
        "config_name": "hot",
        "stats": {"tokens": 5, "distinct_1": 1.0, "perplexity": 12.5, "memorized": False},
        **extra,
    }


def test_round_trip_keeps_provenance_and_json(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        chinese = record(
            model="uer/gpt2-chinese-cluecorpussmall", prompt="春眠不觉晓", text="，处处闻啼鸟。",
            settings={"name": "贪心", "do_sample": False}, stats={"repetition": 0.0},
        )
        ids = store.add_samples([record(), record(sample_index=1), chinese])
        assert len(ids) == 3 and store.count_samples() == 3
        first, second, third = store.samples()
    assert first["id"] == ids[0]
    assert {k: first[k] for k in record()} == record()
    assert first["created"].tzinfo is not None
    assert abs(datetime.now(timezone.utc) - first["created"]) < timedelta(minutes=1)
    assert first["batch"] == second["batch"] == third["batch"]  # one call, one batch
    assert (third["prompt"], third["text"], third["settings"]["name"]) == ("春眠不觉晓", "，处处闻啼鸟。", "贪心")
    # stored as readable JSON, not \u escapes
    with sqlite3.connect(tmp_path / "lab.sqlite") as db:
        assert "贪心" in db.execute("SELECT settings FROM samples WHERE id = ?", (ids[2],)).fetchone()[0]


def test_filters_limit_and_explicit_batch(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        store.add_samples([record(batch="b-1"), record(model="distilgpt2", run=None, batch="b-1")])
        store.add_samples([record(source="gallery")])
        assert len(store.samples(batch="b-1")) == 2
        assert [s["model"] for s in store.samples(model="distilgpt2")] == ["distilgpt2"]
        assert len(store.samples(run="run-1")) == 2
        assert len(store.samples(limit=1)) == 1
        assert store.samples(model="distilgpt2")[0]["run"] is None


def test_created_is_kept_in_utc(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        store.add_samples([record(source="import", created="2024-03-01T10:00:00+08:00")])
        assert store.samples()[0]["created"] == datetime(2024, 3, 1, 2, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "bad, says",
    [
        ({"text": None}, "lacks text"),
        ({"source": "web"}, "source 'web'"),
        ({"setting": {}}, "unknown fields setting"),
        ({"settings": "top_k=50"}, "settings must be a dict"),
    ],
)
def test_bad_records_are_refused_whole(tmp_path, bad, says):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        with pytest.raises(UserError, match=says):
            store.add_samples([record(), record(**bad)])
        assert store.count_samples() == 0


def test_quill_db_url_and_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("QUILL_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("QUILL_DB_URL", raising=False)
    with open_store() as store:
        store.add_samples([record()])
    assert Workspace.from_env().db_path.is_file()

    monkeypatch.setenv("QUILL_DB_URL", url(tmp_path / "elsewhere" / "other.sqlite"))
    with open_store() as store:
        assert store.count_samples() == 0
        store.add_samples([record(), record()])
    with sqlite3.connect(tmp_path / "elsewhere" / "other.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2


def test_sqlite_pragmas(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_reopening_keeps_data_and_version(tmp_path):
    path = tmp_path / "lab.sqlite"
    with open_store(url(path)) as store:
        store.add_samples([record()])
    with open_store(url(path)) as store:
        assert store.count_samples() == 1
        store.add_samples([record()])
        assert store.count_samples() == 2
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(store_module.MIGRATIONS[-1][0],)]


def test_version_0_database_upgrades_in_place(tmp_path):
    path = tmp_path / "lab.sqlite"
    with sqlite3.connect(path) as db:  # a database from before the store had tables
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO schema_version VALUES (0)")
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('kept')")
    with open_store(url(path)) as store:
        store.add_samples([record()])
        assert store.count_samples() == 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert db.execute("SELECT body FROM notes").fetchall() == [("kept",)]


def test_registered_migration_runs_once_in_order(tmp_path):
    path = tmp_path / "lab.sqlite"
    with open_store(url(path)) as store:
        store.add_samples([record()])
    calls = []

    def v2(conn):
        calls.append(2)
        conn.execute(text("ALTER TABLE samples ADD COLUMN language VARCHAR(10)"))
        conn.execute(text("UPDATE samples SET language = 'en'"))

    migrations = [*store_module.MIGRATIONS, (2, v2)]
    with open_store(url(path)) as store:
        assert store_module.migrate(store.engine, migrations) == 2
        assert store_module.migrate(store.engine, migrations) == 2  # already there: nothing runs again
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT language FROM samples")).all() == [("en",)]
            assert conn.execute(text("SELECT version FROM schema_version")).all() == [(2,)]
        assert store.count_samples() == 1
    assert calls == [2]


def test_failed_migration_leaves_database_as_it_was(tmp_path):
    path = tmp_path / "lab.sqlite"
    open_store(url(path)).close()

    def broken(conn):
        conn.execute(text("ALTER TABLE samples ADD COLUMN language VARCHAR(10)"))
        raise RuntimeError("half way")

    with open_store(url(path)) as store:
        with pytest.raises(RuntimeError):
            store_module.migrate(store.engine, [*store_module.MIGRATIONS, (2, broken)])
        columns = {c["name"] for c in inspect(store.engine).get_columns("samples")}
        assert "language" not in columns  # the ALTER was rolled back with the rest
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalar() == 1


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "lab.sqlite"
    open_store(url(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(UserError, match="schema version 99"):
        open_store(url(path))


def test_unopenable_database_is_a_user_error(tmp_path):
    (tmp_path / "lab.sqlite").mkdir()  # a directory where the file should be
    with pytest.raises(UserError, match="cannot open the lab database"):
        open_store(url(tmp_path / "lab.sqlite"))


def test_four_threads_all_land(tmp_path):
    errors = []
    with open_store(url(tmp_path / "lab.sqlite")) as store:

        def work(worker):
            try:
                for i in range(50):
                    store.add_samples([record(seed=worker, sample_index=i)])
            except Exception as exc:  # collected: an exception in a thread would otherwise vanish
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.count_samples() == 200
        landed = {(s["seed"], s["sample_index"]) for s in store.samples()}
        assert landed == {(w, i) for w in range(4) for i in range(50)}


def test_ratings_table_and_home_count(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    with open_store(url(workspace.db_path)) as store:
        assert {c["name"] for c in inspect(store.engine).get_columns("ratings")} >= {
            "sample_id", "rater", "fluency", "coherence", "style", "repetition", "comment", "created", "updated"
        }
        a, b, _ = store.add_samples([record(), record(), record()])
        with store.transaction() as session:
            session.add_all([
                Rating(sample_id=a, rater="ann", fluency=4, style=5),
                Rating(sample_id=a, rater="bo", coherence=2),
                Rating(sample_id=b, rater="ann", repetition=1, comment="loops"),
            ])
        assert workspace.summary().rated_samples == 2  # while the store is open (WAL files present)
    assert workspace.summary().rated_samples == 2  # and after it closed


def test_ratings_constraints(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        (sample,) = store.add_samples([record()])
        with store.transaction() as session:
            session.add(Rating(sample_id=sample, rater="ann", fluency=3))
        for bad in (
            Rating(sample_id=sample, rater="ann", fluency=4),  # one row per rater: revise, don't add
            Rating(sample_id=sample, rater="bo", fluency=6),  # scores are 1-5
            Rating(sample_id=sample + 100, rater="bo", fluency=3),  # no such sample
        ):
            with pytest.raises(Exception, match="UNIQUE|CHECK|FOREIGN KEY"), store.transaction() as session:
                session.add(bad)
        with store.transaction() as session:
            rating = session.query(Rating).one()
            created = rating.updated
            rating.fluency = 5
        with store.transaction() as session:
            rating = session.query(Rating).one()
            assert rating.fluency == 5 and rating.updated >= created
        assert all(isinstance(Rating.__table__.c[c].type, Integer) for c in store_module.CRITERIA)
