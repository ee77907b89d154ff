"""The lab database on real SQLite files: provenance round trip, WAL, reopening, upgrades, threads."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, inspect, text

from core.errors import UserError
from core.ratings import store as store_module
from core.ratings.store import Rating, open_store
from core.summary import summarize
from core.workspace import Workspace
from tests.conftest import ROOT, core_env


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
        store.add_samples([record(source="gallery", sample_index=2)])
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
        ({"settings": "top_k=50"}, "settings must be an object"),
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
        store.add_samples([record(), record(sample_index=1)])
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
        store.add_samples([record(sample_index=1)])
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
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(store_module.MIGRATIONS[-1][0],)]
        assert db.execute("SELECT body FROM notes").fetchall() == [("kept",)]


def test_registered_migration_runs_once_in_order(tmp_path):
    path = tmp_path / "lab.sqlite"
    with open_store(url(path)) as store:
        store.add_samples([record()])
    calls = []
    nxt = store_module.MIGRATIONS[-1][0] + 1

    def step(conn):
        calls.append(nxt)
        conn.execute(text("ALTER TABLE samples ADD COLUMN language VARCHAR(10)"))
        conn.execute(text("UPDATE samples SET language = 'en'"))

    migrations = [*store_module.MIGRATIONS, (nxt, step)]
    with open_store(url(path)) as store:
        assert store_module.migrate(store.engine, migrations) == nxt
        assert store_module.migrate(store.engine, migrations) == nxt  # already there: nothing runs again
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT language FROM samples")).all() == [("en",)]
            assert conn.execute(text("SELECT version FROM schema_version")).all() == [(nxt,)]
        assert store.count_samples() == 1
    assert calls == [nxt]


def test_failed_migration_leaves_database_as_it_was(tmp_path):
    path = tmp_path / "lab.sqlite"
    open_store(url(path)).close()

    def broken(conn):
        conn.execute(text("ALTER TABLE samples ADD COLUMN language VARCHAR(10)"))
        raise RuntimeError("half way")

    with open_store(url(path)) as store:
        with pytest.raises(RuntimeError):
            store_module.migrate(store.engine, [*store_module.MIGRATIONS, (store_module.MIGRATIONS[-1][0] + 1, broken)])
        columns = {c["name"] for c in inspect(store.engine).get_columns("samples")}
        assert "language" not in columns  # the ALTER was rolled back with the rest
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalar() == store_module.MIGRATIONS[-1][0]


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


def in_threads(work, count: int) -> list[Exception]:
    """Run work(0) ... work(count - 1) at once, each in a thread; the exceptions they raised (which a thread would
    otherwise swallow)."""
    errors = []

    def guarded(worker):
        try:
            work(worker)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_four_threads_all_land(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:

        def work(worker):
            for i in range(50):
                store.add_samples([record(seed=worker, sample_index=i)])

        assert in_threads(work, 4) == []
        assert store.count_samples() == 200
        landed = {(s["seed"], s["sample_index"]) for s in store.samples()}
        assert landed == {(w, i) for w in range(4) for i in range(50)}


def test_ratings_table_and_home_count(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    with open_store(url(workspace.db_path)) as store:
        assert {c["name"] for c in inspect(store.engine).get_columns("ratings")} >= {
            "sample_id", "rater", "fluency", "coherence", "style", "repetition", "comment", "created", "updated"
        }
        a, b, _ = store.add_samples([record(sample_index=i) for i in range(3)])
        with store.transaction() as session:
            session.add_all([
                Rating(sample_id=a, rater="ann", fluency=4, style=5),
                Rating(sample_id=a, rater="bo", coherence=2),
                Rating(sample_id=b, rater="ann", repetition=1, comment="loops"),
            ])
        assert summarize(workspace).rated_samples == 2  # while the store is open (WAL files present)
    assert summarize(workspace).rated_samples == 2  # and after it closed


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


# --- schema version 2 and the rating API ----------------------------------------------------------------------


def _schema(path) -> dict:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        # ALTER TABLE ADD COLUMN writes the column into the stored CREATE text without create_all's line break
        return {name: " ".join(sql.split()) if sql else sql for name, sql in rows}


def version_1_database(db_url: str) -> tuple[int, int]:
    """A database exactly as version 1 made it, holding two samples and a rating; returns the samples' ids.
    Shared with the PostgreSQL tests."""
    engine = store_module._engine(db_url)
    with engine.begin() as conn:
        store_module._v1(conn)
        store_module.SchemaVersion.__table__.create(conn)
        conn.execute(store_module.SchemaVersion.__table__.insert().values(version=1))
    samples, ratings = store_module._V1.tables["samples"], store_module._V1.tables["ratings"]
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:  # the version-1 tables themselves: today's model has columns they lack
        a, b = (conn.execute(samples.insert().values(**record(text=t), created=now, batch="b1")).inserted_primary_key[0]
                for t in (" there was a lab.", " another"))
        conn.execute(ratings.insert().values(sample_id=a, rater="ann", fluency=4, comment="好", created=now, updated=now))
    engine.dispose()
    return a, b


def test_version_1_database_upgrades_to_2_keeping_its_data(tmp_path):
    path = tmp_path / "lab.sqlite"
    a, b = version_1_database(url(path))
    assert "comparisons" not in _schema(path)

    with open_store(url(path)) as store:
        assert [s["id"] for s in store.samples()] == [a, b]
        (rating,) = store.ratings()
        assert (rating["sample_id"], rating["rater"], rating["fluency"], rating["comment"]) == (a, "ann", 4, "好")
        store.vote(a, b, "ann", "a")
        assert [c["outcome"] for c in store.comparisons()] == ["a"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(store_module.MIGRATIONS[-1][0],)]
    fresh = tmp_path / "fresh.sqlite"
    open_store(url(fresh)).close()
    assert _schema(path) == _schema(fresh)  # the upgrade gives exactly what a new database has


def test_rate_inserts_then_revises_one_row(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        (sample,) = store.add_samples([record()])
        store.rate(sample, "ann", {"fluency": 3, "style": 4}, comment="ok")
        (first,) = store.ratings()
        assert (first["fluency"], first["coherence"], first["style"], first["comment"]) == (3, None, 4, "ok")
        store.rate(sample, " ann ", {"fluency": 5, "coherence": 2, "repetition": 1})  # the same rater, revised
        (revised,) = store.ratings()
    assert revised["id"] == first["id"] and revised["created"] == first["created"]
    assert revised["updated"] > first["updated"] and revised["updated"].tzinfo is not None
    assert {c: revised[c] for c in store_module.CRITERIA} == {"fluency": 5, "coherence": 2, "style": None, "repetition": 1}
    assert revised["comment"] is None


@pytest.mark.parametrize(
    "sample_offset, rater, scores, says",
    [
        (100, "ann", {"fluency": 3}, "no sample"),
        (0, "", {"fluency": 3}, "rater name"),
        (0, "   ", {"fluency": 3}, "rater name"),
        (0, "ann", {"fluency": 0}, "fluency score 0"),
        (0, "ann", {"style": 6}, "style score 6"),
        (0, "ann", {"style": "4"}, "style score '4'"),
        (0, "ann", {"coherence": 2.5}, "coherence score 2.5"),
        (0, "ann", {"humour": 3}, "unknown criteria humour"),
        (0, "ann", [3, 3, 3, 3], "must be a dict"),
    ],
)
def test_bad_ratings_are_user_errors_and_change_nothing(tmp_path, sample_offset, rater, scores, says):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        (sample,) = store.add_samples([record()])
        with pytest.raises(UserError, match=says):
            store.rate(sample + sample_offset, rater, scores)
        assert store.ratings() == []


def test_ratings_carry_provenance_and_filter(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        a, b = store.add_samples([record(), record(config_name="greedy", checkpoint=None, prompt="春天")])
        store.rate(a, "ann", {"fluency": 4})
        store.rate(b, "ann", {"fluency": 2})
        store.rate(b, "bo", {"fluency": 3})
        rows = store.ratings()
        assert [(r["sample_id"], r["rater"]) for r in rows] == [(a, "ann"), (b, "ann"), (b, "bo")]
        assert (rows[1]["model"], rows[1]["checkpoint"], rows[1]["config_name"], rows[1]["prompt"]) == (
            "gpt2", None, "greedy", "春天")
        assert rows[0]["settings"] == record()["settings"] and rows[0]["text"] == record()["text"]
        assert [r["sample_id"] for r in store.ratings(sample_ids=[b])] == [b, b]
        assert [r["sample_id"] for r in store.ratings(rater="ann")] == [a, b]
        assert store.ratings(sample_ids=[a], rater="bo") == []


def test_next_unrated_and_progress(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        a, b, c = store.add_samples([record(), record(source="gallery", sample_index=1), record(sample_index=2)])
        assert store.progress("ann") == (0, 3)
        assert store.next_unrated("ann")["id"] == a
        store.rate(a, "ann", {"fluency": 4})
        assert store.next_unrated("ann")["id"] == b
        assert store.next_unrated("ann", skip=[b])["id"] == c  # skipped on the sheet
        assert store.next_unrated("ann", source="playground")["id"] == c
        assert store.progress("ann") == (1, 3) and store.progress("ann", source="gallery") == (0, 1)
        assert store.progress("bo") == (0, 3)
        store.rate(b, "ann", {})
        store.rate(c, "ann", {"style": 1})
        assert store.next_unrated("ann") is None and store.progress("ann") == (3, 3)
        assert store.next_unrated("bo")["id"] == a
        with pytest.raises(UserError, match="rater name"):
            store.progress("")


def test_votes_pairs_and_comparisons(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        a, b, c = store.add_samples([record(config_name=n, seed=i) for i, n in enumerate(("greedy", "hot", "cold"))])
        (alone,) = store.add_samples([record(prompt="another prompt")])
        first = store.pair_for("ann", rng_seed=3)
        assert first is not None and store.pair_for("ann", rng_seed=3) == first  # the same seed, the same pair
        seen = {store.pair_for("ann", rng_seed=s)[0]["id"] for s in range(30)}
        assert seen <= {a, b, c} and len(seen) > 1  # shuffled: either sample may come first

        store.vote(a, b, "ann", "a")
        store.vote(c, a, "ann", "tie")
        assert {frozenset((p[0]["id"], p[1]["id"])) for p in (store.pair_for("ann", s) for s in range(20))} == {
            frozenset((b, c))}
        store.vote(b, c, "ann", "both_bad")
        assert store.pair_for("ann", rng_seed=1) is None  # every pair of the prompt compared; `alone` has none
        assert store.pair_for("bo", rng_seed=1) is not None

        store.vote(b, a, "ann", "b")  # voting again on a pair, in either order, replaces the earlier vote
        votes = store.comparisons()
        assert [(v["sample_a"], v["sample_b"], v["outcome"]) for v in votes] == [(c, a, "tie"), (b, c, "both_bad"), (b, a, "b")]
        assert (votes[2]["config_a"], votes[2]["config_b"], votes[2]["prompt"]) == ("hot", "greedy", record()["prompt"])
        assert votes[0]["rater"] == "ann" and votes[0]["created"].tzinfo is not None
        assert store.comparisons(rater="bo") == []

        for args, says in [
            ((a, alone, "ann", "a"), "different prompts"),
            ((a, a, "ann", "a"), "two different samples"),
            ((a, b, "ann", "A"), "outcome 'A'"),
            ((a, 999, "ann", "a"), "no sample 999"),
            ((a, b, "", "a"), "rater name"),
        ]:
            with pytest.raises(UserError, match=says):
                store.vote(*args)
        assert len(store.comparisons()) == 3


def eight_raters_at_once(db_url: str) -> None:
    """8 threads × 200 ratings (plus revisions) on one store: all 1,600 land, one row per (sample, rater).
    Shared with the PostgreSQL tests."""
    with open_store(db_url) as store:
        ids = store.add_samples([record(sample_index=i) for i in range(200)])

        def work(worker):
            rater = f"rater-{worker}"
            for i, sample in enumerate(ids):
                store.rate(sample, rater, {"fluency": 1 + (i + worker) % 5})
            for sample in ids[:: 20]:  # some revisions: still one row each
                store.rate(sample, rater, {"fluency": 5, "style": 5}, comment="revised")

        assert in_threads(work, 8) == []
        rows = store.ratings()
        assert len(rows) == 1600
        assert {(r["sample_id"], r["rater"]) for r in rows} == {(s, f"rater-{w}") for s in ids for w in range(8)}
        revised = {(r["sample_id"], r["rater"]) for r in rows if r["comment"] == "revised"}
        assert revised == {(s, f"rater-{w}") for s in ids[::20] for w in range(8)}
        assert all(r["fluency"] == 5 and r["style"] == 5 for r in rows if r["comment"] == "revised")
        assert all(store.progress(f"rater-{w}") == (200, 200) for w in range(8))


def test_eight_raters_at_once_all_land(tmp_path):
    eight_raters_at_once(url(tmp_path / "lab.sqlite"))


@pytest.fixture
def silent_server():
    """A TCP port on loopback that accepts connections and never answers: a PostgreSQL server that hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)  # so that the accepting thread sees `done` and ends with the test
    done, held = threading.Event(), []

    def accept():
        while not done.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    yield listener.getsockname()[1]
    done.set()
    thread.join()
    for conn in [*held, listener]:
        conn.close()


def _python(*args: str, **env: str) -> subprocess.CompletedProcess:
    # timeout=15 is the hang detector the issue asks for: without the lab's own timeouts this never returns
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=core_env(**env), capture_output=True, text=True,
                          timeout=15)


def test_a_postgres_server_that_never_answers_fails_ratings_export_in_seconds(tmp_path, silent_server):
    db_url = f"postgresql+psycopg://quill:s3cret-pw@127.0.0.1:{silent_server}/lab"
    done = _python("-m", "core", "ratings", "export", "--out", str(tmp_path / "out.csv"), QUILL_DB_URL=db_url)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: the lab database at 127.0.0.1:{silent_server} did not answer within {store_module.CONNECT_TIMEOUT_S} s; "
        "check QUILL_DB_URL and that the server is running and reachable"
    ]
    assert "s3cret-pw" not in done.stderr and not (tmp_path / "out.csv").exists()


def test_the_home_summary_does_not_hang_on_a_silent_postgres_server(tmp_path, silent_server):
    db_url = f"postgresql+psycopg://quill:s3cret-pw@127.0.0.1:{silent_server}/lab"
    done = _python("-c", "from core.summary import summarize; from core.workspace import Workspace; print(summarize(Workspace.from_env()).rated_samples)",
                   QUILL_DB_URL=db_url, QUILL_HOME=str(tmp_path / "ws"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "0\n", "")



def test_the_rubric_is_defined_once_and_the_database_checks_it(tmp_path):
    from core.ratings import aggregates, rubric

    assert store_module.CRITERIA is rubric.CRITERIA and aggregates.CRITERIA is rubric.CRITERIA
    assert aggregates.SCORES is rubric.SCORES and store_module.OUTCOMES is rubric.OUTCOMES
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        (sample,) = store.add_samples([record()])
        for criterion in rubric.CRITERIA:  # the database's own check refuses a score outside the rubric
            with pytest.raises(Exception, match="CHECK"), store.transaction() as session:
                session.add(Rating(sample_id=sample, rater="x", **{criterion: max(rubric.SCORES) + 1}))


def test_blind_queue_is_a_fixed_shuffle_per_rater_that_visits_every_sample(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        ids = store.add_samples([record(sample_index=i) for i in range(12)])

        def order(rater):
            seen = []
            while (sample := store.next_unrated(rater, skip=seen, shuffled=True)) is not None:
                seen.append(sample["id"])
            return seen

        ann = order("ann")
        assert sorted(ann) == ids and ann != ids  # every sample once, not in the order made
        assert order("ann") == ann and order("bo") != ann  # the same for the same rater, another for another
        store.rate(ann[0], "ann", {"fluency": 3})
        assert store.next_unrated("ann", shuffled=True)["id"] == ann[1]
        assert store.sample(ann[0])["id"] == ann[0] and store.sample(10_000) is None


# --- schema version 3: a sample's identity ------------------------------------------------------------------


def test_sending_the_same_sample_twice_stores_it_once(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        first = store.insert_samples([record(), record(sample_index=1)])
        again = store.insert_samples([record(batch="another"), record(sample_index=1), record(sample_index=2)])
        assert (first.new, first.existing, again.new, again.existing) == (2, 0, 1, 2)
        assert again.ids[:2] == first.ids  # the existing ids, not new rows
        assert store.count_samples() == 3
        assert store.insert_samples([record(text=" a different text")]).new == 1  # the text is part of the identity


def test_version_2_duplicates_survive_the_upgrade_and_new_copies_are_refused(tmp_path):
    path = tmp_path / "lab.sqlite"
    a, b = version_1_database(url(path))
    with sqlite3.connect(path) as db:  # the bug this version fixes: the same sample stored twice
        db.execute("INSERT INTO samples (created, model, checkpoint, run, dataset, source, prompt, text, settings, seed, "
                   "sample_index, config_name, stats, batch) SELECT created, model, checkpoint, run, dataset, source, "
                   "prompt, text, settings, seed, sample_index, config_name, stats, batch FROM samples WHERE id = ?", (a,))
    with open_store(url(path)) as store:
        assert store.count_samples() == 3  # kept, with the rating of the first copy
        assert store.insert_samples([record()]).ids == [a]
        assert store.count_samples() == 3
