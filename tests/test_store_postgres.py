"""The lab database on a real PostgreSQL server (`.ci/run` starts one and sets QUILL_TEST_POSTGRES_URL):
the same contract as on SQLite — provenance round trip, upgrade from version 1, revisions, votes, 8 × 200 ratings."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import MetaData, text

from core.errors import UserError
from core.ratings import store as store_module
from core.ratings.store import open_store
from tests.conftest import require
from tests.test_store import eight_raters_at_once, record, version_1_database

URL = os.environ.get("QUILL_TEST_POSTGRES_URL", "")


@pytest.fixture
def pg_url():
    require(bool(URL), "no PostgreSQL: set QUILL_TEST_POSTGRES_URL (`.ci/run` starts a server and sets it)")
    engine = store_module._engine(URL)
    with engine.begin() as conn:  # every test starts from an empty database
        tables = MetaData()
        tables.reflect(conn)
        tables.drop_all(conn)
    engine.dispose()
    return URL


def test_round_trip_and_version(pg_url):
    with open_store(pg_url) as store:
        (sample,) = store.add_samples([record(prompt="青石镇的早晨", text="雨下了三天。")])
        [back] = store.samples()
        assert (back["id"], back["prompt"], back["text"], back["settings"]["top_k"]) == (sample, "青石镇的早晨", "雨下了三天。", 50)
    engine = store_module._engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM schema_version")).scalar() == store_module.MIGRATIONS[-1][0]
    engine.dispose()


def test_version_1_database_upgrades_in_place(pg_url):
    a, b = version_1_database(pg_url)
    with open_store(pg_url) as store:
        (rating,) = store.ratings()
        assert (rating["sample_id"], rating["fluency"], rating["comment"]) == (a, 4, "好")
        store.vote(a, b, "ann", "a")
        assert [c["outcome"] for c in store.comparisons()] == ["a"]


def test_revisions_keep_one_row(pg_url):
    with open_store(pg_url) as store:
        (sample,) = store.add_samples([record()])
        store.rate(sample, "ann", {"fluency": 3})
        store.rate(sample, "ann", {"fluency": 5, "style": 2}, comment="revised")
        (rating,) = store.ratings()
        assert (rating["fluency"], rating["style"], rating["comment"]) == (5, 2, "revised")


def test_eight_raters_at_once_all_land(pg_url):
    eight_raters_at_once(pg_url)


def test_every_statement_has_a_timeout_unless_the_url_sets_its_own(pg_url, monkeypatch):
    monkeypatch.setattr(store_module, "STATEMENT_TIMEOUT_S", 1)
    with open_store(pg_url) as store, store.engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "1s"
        with pytest.raises(UserError, match="took more than 1 s to answer a query"):
            conn.execute(text("SELECT pg_sleep(3)"))
    own = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-c%20statement_timeout%3D7000"
    with open_store(own) as store, store.engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "7s"
