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
from tests.conftest import ROOT, core_env

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
    # One document: its bytes and its text meet once (2x for ASCII); a strip() of either would make 3x.
    ratio, documents = _growth(big_file, "whole")
    assert documents == 1
    assert ratio < 2.5, f"peak memory grew by {ratio:.2f}x the file"


def test_the_cleaning_preview_holds_its_sample_not_the_corpus():
    """The Data page previews a corpus through LoadResult.texts/.sources: views, so cleaning 200 sampled documents
    allocates for those, not a list of pointers per field over a million documents (16 MB here)."""
    import tracemalloc

    from core.data.cleaning.pipeline import preview
    from core.data.cleaning.recipe import Recipe
    from core.data.loading import Document, LoadResult

    text = "A line of the corpus, long enough to be kept by the default recipe's length filter.\n" * 3
    corpus = LoadResult([Document(text, f"big.txt#p{i % 1000}") for i in range(1_000_000)])
    preview(Recipe.default(), [text] * 10)  # the steps' own one-time loads (language model, tables) come first
    tracemalloc.start()
    try:
        result, indices = preview(Recipe.default(), corpus.texts, corpus.sources, seed=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(indices) == 200 and indices == sorted(set(indices)) and result.texts  # duplicates: one kept
    assert corpus.sources[indices[0]] == f"big.txt#p{indices[0] % 1000}" and corpus.texts[1:3] == [text, text]
    assert peak < 4 * 10**6, f"the preview allocated {peak / 1e6:.1f} MB"
