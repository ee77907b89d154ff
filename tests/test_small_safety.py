"""Smaller items of issue 20 (item 9): Chinese UTF-16 without a byte-order mark is text, the PostgreSQL timeout
message says the URL's own timeout and the Ratings page shows it in an error box, and CSV cells that a spreadsheet
would still run as a formula are quoted."""

from __future__ import annotations

import csv
import os
import time

import pytest

from core.data.decoding import decode
from core.errors import UserError
from core.ratings import io as ratings_io
from core.ratings.store import open_store
from tests.test_pages import open_page
from tests.test_ratings_io import record, url
from tests.test_store import _python, silent_server  # noqa: F401 - a fixture

POEM = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_chinese_utf16_without_a_bom_or_any_ascii_is_text(encoding):
    found = decode(POEM.encode(encoding))
    assert (found.text, found.encoding) == (POEM, encoding)
    with pytest.raises(UserError, match="binary file"):  # binary bytes can read as UTF-16: rare ideographs
        decode(open("/usr/bin/env", "rb").read()[5000:5400].replace(b"\0", b"\1"))
    with pytest.raises(UserError, match="binary file"):
        decode(os.urandom(4000).replace(b"\0", b"\1"))


def test_the_timeout_message_says_the_urls_own_timeout(tmp_path, silent_server):  # noqa: F811
    db_url = f"postgresql+psycopg://quill@127.0.0.1:{silent_server}/lab?connect_timeout=1"
    started = time.monotonic()
    done = _python("-m", "core", "ratings", "export", "--out", str(tmp_path / "o.csv"), QUILL_DB_URL=db_url)
    assert done.returncode == 2 and f"127.0.0.1:{silent_server} did not answer within 1 s;" in done.stderr
    assert time.monotonic() - started < 12


def test_the_ratings_page_shows_a_silent_database_in_an_error_box(workspace, silent_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("QUILL_DB_URL", f"postgresql+psycopg://quill@127.0.0.1:{silent_server}/lab?connect_timeout=1")
    at = open_page("ratings")
    assert not at.exception, [e.value for e in at.exception]
    assert "did not answer within 1 s" in at.error[0].value


def test_csv_cells_a_spreadsheet_would_still_run_are_quoted_and_read_back(tmp_path):
    risky = [";=1+1", " =1+1", "\u3000=1", "＝HYPERLINK(\"http://x\")", "＋1", "－1", "＠SUM(A1)", ",=1", "'=x"]
    with open_store(url(tmp_path / "a.sqlite")) as store:
        ids = store.add_samples([record(text=text, prompt=text) for text in risky])
        for sample in ids:
            store.rate(sample, "ann", {"fluency": 3})
        ratings_io.export(store, "csv", tmp_path / "out.csv")
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    assert sorted(texts) == sorted("'" + text for text in risky)
    with open_store(url(tmp_path / "b.sqlite")) as store:
        ratings_io.import_file(store, tmp_path / "out.csv")
        assert sorted(s["text"] for s in store.samples()) == sorted(risky)  # the round trip stays exact
