"""Loading a large text file: paragraphs and lines cut as the file is read (core.data.text_stream), with the same
documents as reading it whole, and peak memory that is the documents', not bytes + text + pieces at once."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys

import pytest

from core.data import loading
from core.data.loading import LoadOptions, load_bytes, load_paths
from tests.conftest import ROOT, core_env, run_core

# Line ends, blank lines holding spaces, a full-width space and tabs, indentation, multi-byte characters, and a break
# that a small chunk size cuts in every place.
TRICKY = (
    "First paragraph, line one\r\nline two\r\n\r\n  Indented second paragraph ünïcödé 🚀\n \n\t\n\n"
    "Third\u3000paragraph 青石镇的早晨。\r\r\n\u3000\nFourth\r"
    "\n\n\n\n   \n"
    "last line without an end  "
)


@pytest.mark.parametrize("split", ["paragraphs", "lines"])
@pytest.mark.parametrize("prefix", [b"", codecs.BOM_UTF8], ids=["plain", "bom"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_a_file_read_in_chunks_gives_the_documents_of_the_whole_file(tmp_path, monkeypatch, split, prefix, chunk):
    data = prefix + TRICKY.encode("utf-8")
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    whole = load_bytes("corpus.txt", data, LoadOptions(txt_split=split))
    monkeypatch.setattr(loading, "READ_CHUNK", chunk)  # a break, a "\r\n" and a character cut at every offset
    streamed = load_paths([path], LoadOptions(txt_split=split), allowed_roots=None)
    assert [(d.text, d.source) for d in streamed.documents] == [(d.text, d.source) for d in whole.documents]
    assert len(whole.documents) >= 4
    assert streamed.files[0].summary() == whole.files[0].summary()
    assert streamed.files[0].preview == whole.files[0].preview


@pytest.mark.parametrize(("data", "error"), [
    (b" \n\t\n ", "empty file"),
    (codecs.BOM_UTF8 + "\u3000\n".encode(), "empty file"),
    (bytes(range(1, 9)) * 50 + b"text", "binary file (not text)"),
])
def test_a_streamed_file_is_refused_as_the_whole_file_is(tmp_path, monkeypatch, data, error):
    path = tmp_path / "odd.txt"
    path.write_bytes(data)
    monkeypatch.setattr(loading, "READ_CHUNK", 5)
    (report,) = load_paths([path], LoadOptions(txt_split="paragraphs"), allowed_roots=None).files
    assert report.error == error == load_bytes("odd.txt", data).files[0].error


@pytest.mark.parametrize("data", ["第一段。\n\n第二段。".encode("gb18030"), "one\n\ntwo".encode("utf-16"),
                                  b"caf\xe9\n\nna\xefve", "cut at the end \u00e9".encode()[:-1]])
def test_what_is_not_plain_utf8_is_read_whole_with_its_encoding_guessed(tmp_path, monkeypatch, data):
    path = tmp_path / "legacy.txt"
    path.write_bytes(data)
    monkeypatch.setattr(loading, "READ_CHUNK", 3)
    loaded = load_paths([path], LoadOptions(txt_split="paragraphs"), allowed_roots=None)
    whole = load_bytes("legacy.txt", data, LoadOptions(txt_split="paragraphs"))
    assert [d.text for d in loaded.documents] == [d.text for d in whole.documents] != []
    assert loaded.files[0].encoding == whole.files[0].encoding and loaded.files[0].warning == whole.files[0].warning


JSONL = (
    '{"text": "first", "n": 1}\r\n\n   \n"a bare string 🚀"\n'
    '{"title": "静夜思", "paragraphs": ["床前明月光，", "疑是地上霜。"]}\r'
    '{"text": "escaped\\nbreak, a raw \u2028 line separator and a \u3000 space", "n": 2}\n'
    '{"other": "no text field: an empty document, not counted"}\n'
    '{"text": "' + "long line " * 40 + '"}'
)
CSV = ('id,text\r\n1,"Hello, world"\r\n2,"two\r\nlines, ""quoted"" 静"\n3,\n4\n\n'
       '5,"🚀 ' + "long cell " * 40 + '"')


def _whole_and_streamed(tmp_path, monkeypatch, name: str, data: bytes, chunk: int, options=LoadOptions()):
    path = tmp_path / name
    path.write_bytes(data)
    whole = load_bytes(name, data, options)
    monkeypatch.setattr(loading, "READ_CHUNK", chunk)
    return whole, load_paths([path], options, allowed_roots=None)


def _same(whole, streamed) -> None:
    assert [(d.text, d.source) for d in streamed.documents] == [(d.text, d.source) for d in whole.documents]
    assert streamed.files[0].summary() == whole.files[0].summary()
    assert streamed.files[0].preview == whole.files[0].preview


@pytest.mark.parametrize("prefix", [b"", codecs.BOM_UTF8], ids=["plain", "bom"])
@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize(("name", "text", "count"), [("poems.jsonl", JSONL, 5), ("table.csv", CSV, 3)])
def test_jsonl_and_csv_read_in_chunks_give_the_documents_of_the_whole_file(tmp_path, monkeypatch, prefix, chunk,
                                                                           name, text, count):
    whole, streamed = _whole_and_streamed(tmp_path, monkeypatch, name, prefix + text.encode(), chunk)
    _same(whole, streamed)
    assert len(whole.documents) == count and whole.files[0].error is None


DEEP = "[" * 600 + '"deep"' + "]" * 600  # json reads it; joining its text goes deeper than python's recursion limit


@pytest.mark.parametrize(("text", "error"), [
    ('{"text": "a"}\n\n{"text": oops}\n{"text": "d"}\n', "line 3 is not valid JSON: Expecting value (column 10)"),
    ('{"text":   \n', "line 1 is not valid JSON: Expecting value (column 12)"),  # the column counts the spaces
    ('{"text": "a"}\n[1, 2]\n{"text": "c"}\n{broken\n', "line 4 is not valid JSON: Expecting property name "
                                                       "enclosed in double quotes (column 2)"),  # before line 2's
    ('{"text": "a"}\n[1, 2]\n{"text": "c"}\n', "line 2 is neither a string nor an object"),
    ('{"text": "a"}\n{"text": ' + DEEP + '}\n{"text": "c"}\n', "JSON nested too deeply to read"),
    ('{"body": "a"}\n{"note": null}\n', "no field 'text' or 'title' or 'paragraphs' or 'content' in the objects: "
                                         "fields are body, note"),
])
@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_a_failing_jsonl_file_is_reported_as_the_whole_file_reading_reports_it(tmp_path, monkeypatch, text, error,
                                                                               chunk):
    whole, streamed = _whole_and_streamed(tmp_path, monkeypatch, "bad.jsonl", text.encode(), chunk)
    _same(whole, streamed)
    assert whole.files[0].error == error and whole.documents == []


@pytest.mark.parametrize(("name", "data", "error", "encoding"), [
    # a JSON error on line 1, and a GBK file after it: the whole-file reading guesses the encoding first
    ("gbk.jsonl", '{oops\n{"text": "第一首诗，床前明月光。"}\n'.encode("gb18030") * 20, "line 1 is not valid JSON",
     "gb18030"),
    ("binary.jsonl", b'{"text": "x"}\n{oops\n' + bytes(range(1, 9)) * 50, "binary file (not text)", None),
    ("empty.csv", b"\n \n", "empty file", None),
    ("columns.csv", "id,body\n1,静\n".encode(), "no column 'text' in the CSV: columns are id, body", "utf-8"),
    ("latin.csv", b"text\nna\xefve\n" * 3, None, "cp1252"),  # not UTF-8: read whole, its encoding guessed
])
def test_what_a_streamed_jsonl_or_csv_cannot_settle_is_settled_as_the_whole_file_settles_it(
        tmp_path, monkeypatch, name, data, error, encoding):
    whole, streamed = _whole_and_streamed(tmp_path, monkeypatch, name, data, 4)
    _same(whole, streamed)
    assert (whole.files[0].error or "").startswith(error or "") and whole.files[0].encoding == encoding


# In a fresh interpreter: load the file, then report the growth of peak RSS (VmHWM) over the RSS before the load.
MEASURE = """
import json, sys
from pathlib import Path
from core.data.loading import LoadOptions, load_paths
def status(key):
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key + ":"))
before = status("VmRSS")
result = load_paths([Path(sys.argv[1])], LoadOptions(txt_split=sys.argv[2]), allowed_roots=None)
print(json.dumps({"growth": status("VmHWM") - before, "documents": len(result.documents)}))
"""


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """About 60 MB of ASCII prose in paragraphs of about 2 KB, ending in a newline."""
    path = tmp_path_factory.mktemp("big") / "novel.txt"
    sentence = "The keeper climbed the stairs of the lighthouse at dusk, counting {} steps as always. "
    with path.open("w", encoding="utf-8") as f:
        for i in range(30_000):
            f.write("".join(sentence.format(i * 31 + k) for k in range(24)) + "\n\n")
    return path


def _growth(path, split: str) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), split], cwd=ROOT, env=core_env(),
                          capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout)
    return figures["growth"] / path.stat().st_size, figures["documents"]


def test_loading_paragraphs_costs_about_the_documents_not_three_copies(big_file):
    # ASCII text held as str is about its size in bytes; reading whole, then decoding and splitting, held the
    # bytes, the text and the paragraphs at once (3x and more).
    ratio, documents = _growth(big_file, "paragraphs")
    assert documents == 30_000
    assert ratio < 1.5, f"peak memory grew by {ratio:.2f}x the file"


def test_loading_a_whole_file_holds_its_bytes_and_its_text_and_no_other_copy(big_file):
    # A book (core.data.book): its text and its documents' bytes meet once (2x for ASCII), as one document's did;
    # a list of its lines or paragraphs beside them would make 3x.
    ratio, documents = _growth(big_file, "whole")
    assert documents >= 600  # no headings: cut at blank lines into parts of at most 100,000 characters
    assert ratio < 2.5, f"peak memory grew by {ratio:.2f}x the file"


def test_the_cleaning_preview_holds_its_sample_not_the_corpus():
    """The Data page previews a corpus through LoadResult.texts/.sources: views, so cleaning 200 sampled documents
    allocates for those, not a list of pointers per field over a million documents (16 MB here)."""

    from core.data.loading import Document, LoadResult

    text = "A line of the corpus, long enough to be kept by the default recipe's length filter.\n" * 3
    corpus = LoadResult([Document(text, f"big.txt#p{i % 1000}") for i in range(1_000_000)])
    result, indices, peak = _preview_allocating(corpus, seed=3)
    assert len(indices) == 200 and indices == sorted(set(indices)) and result.texts  # duplicates: one kept
    assert corpus.sources[indices[0]] == f"big.txt#p{indices[0] % 1000}" and corpus.texts[1:3] == [text, text]
    assert peak < 4 * 10**6, f"the preview allocated {peak / 1e6:.1f} MB"


SHORT_PARAGRAPHS = 600_000  # of about 100 bytes, 60 MB: a play's speeches, a poetry collection's poems


def _short_paragraph(i: int) -> str:
    """English with typographic quotes and a dash, or a line of Chinese verse: either makes a Python str hold
    2 bytes a character."""
    if i % 3:
        return f"“Keep the lamp lit,” said the keeper’s daughter — it was night {i}, and the stairs were cold."
    return f"第{i}首\n床前明月光，疑是地上霜。举头望明月，低头思故乡。"


@pytest.fixture(scope="module")
def short_paragraphs_txt(tmp_path_factory):
    path = tmp_path_factory.mktemp("short") / "speeches.txt"
    with path.open("w", encoding="utf-8") as f:
        f.writelines(_short_paragraph(i) + "\n\n" for i in range(SHORT_PARAGRAPHS))
    return path


@pytest.fixture(scope="module")
def short_paragraphs_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("short") / "speeches.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": _short_paragraph(i)}, ensure_ascii=False) + "\n"
                     for i in range(SHORT_PARAGRAPHS))
    return path


@pytest.mark.parametrize("corpus", ["short_paragraphs_txt", "short_paragraphs_jsonl"])
def test_short_documents_beyond_latin1_cost_about_their_utf8_size(corpus, request):
    # Held as Documents of str, each paragraph took 2 bytes a character and ~200 bytes of objects (2.3x the file);
    # a JSONL file was decoded and parsed whole (3x and more). Stored as UTF-8 and streamed, about the file's size.
    path = request.getfixturevalue(corpus)
    ratio, documents = _growth(path, "paragraphs")
    assert documents == SHORT_PARAGRAPHS
    assert ratio < 1.5, f"peak memory grew by {ratio:.2f}x the file"


def test_the_preview_of_a_long_document_decodes_its_start_only(tmp_path):
    """A long file read "whole" is cut into documents of up to 100,000 characters (core.data.book): the preview
    cleans the first PREVIEW_CHARS of each sampled one, and so decodes no more of them (a 30 MB novel decoded for a
    preview is 60 MB held)."""

    from core.data.cleaning.pipeline import PREVIEW_CHARS

    path = tmp_path / "novel.txt"
    with path.open("w", encoding="utf-8") as f:
        f.writelines(f"“The keeper’s lamp,” she said at step {i} — and went on climbing.\n" for i in range(500_000))
    corpus = load_paths([path], allowed_roots=None)
    assert len(corpus.documents) >= 300 and corpus.files[0].chars > 30_000_000
    result, indices, peak = _preview_allocating(corpus, seed=0, sample_size=1)  # the cost of one long document
    assert len(indices) == 1 and result.sample_sources == [f"novel.txt#c{indices[0] + 1}"]
    assert result.texts[0].startswith("“The keeper’s lamp,”") and len(result.texts[0]) <= PREVIEW_CHARS
    assert peak < 4 * 10**6, f"the preview allocated {peak / 1e6:.1f} MB"


def test_bench_load_measures_each_corpus_in_its_own_process(tmp_path):
    poems = tmp_path / "poems"
    poems.mkdir()
    (poems / "tang.json").write_text(json.dumps([{"title": "静夜思", "paragraphs": ["床前明月光，", "疑是地上霜。"]},
                                                 "“Keep the lamp lit,” she said."], ensure_ascii=False), "utf-8")
    done = run_core("bench", "load", "--json", "--megabytes", "1", "--sizes", "1", "--paths", str(poems))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {row["corpus"]: row for row in json.loads(done.stdout)["corpora"]}
    assert list(rows) == ["generated mixed English/Chinese, 1 MB", "English, typographic quotes", "poems as plain text",
                          "poems as JSONL", "poems as CSV"]
    for row in rows.values():
        assert 1 <= row["corpus_mb"] < 1.5 and row["documents"] > 1000  # JSONL and CSV: 1 MB of text, framed
        assert row["load_rss_per_corpus_byte"] > 0 and row["load_mb_per_s"] > 0
    assert rows["poems as JSONL"]["documents"] == rows["poems as CSV"]["documents"] == rows["poems as plain text"][
        "documents"]
    refused = run_core("bench", "load", "--sizes", "0")
    assert refused.returncode != 0 and refused.stderr.startswith("error: --sizes")


def _preview_allocating(corpus, seed: int, sample_size: int = 200):
    """The default recipe's preview of a loaded corpus, and the most memory Python allocated while it ran."""
    import tracemalloc

    from core.data.cleaning.pipeline import preview
    from core.data.cleaning.recipe import Recipe

    # the steps' own one-time loads (language model, tables) come first
    preview(Recipe.default(), ["warm-up text, long enough for the length filter to keep it as a document."] * 10)
    tracemalloc.start()
    try:
        result, indices = preview(Recipe.default(), corpus.texts, corpus.sources, seed=seed, sample_size=sample_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, indices, peak
