"""The compact document store (core.data.documents): every text and source comes back as it went in, across
buffer boundaries and merged stores, and a loaded file's documents are held as UTF-8, not as `str`s."""

from __future__ import annotations

import copy
import json
import mmap
import pickle

import pytest

from core.data import documents as store_module
from core.data.documents import Document, Documents
from core.data.loading import LoadResult, load_bytes

TEXTS = [
    "plain ASCII",
    "",  # an empty document
    "静夜思\n床前明月光，疑是地上霜。",
    "emoji 🚀🎉 and a ZWJ family 👩‍👩‍👧",
    "lone surrogates \ud800 and \udfff, and a pair split in two: \ud83d\ude00",
    "typographic ’quotes’ — “dashes”",
    "",
    "x" * 70,  # longer than the small buffers below: a buffer of its own
    "\u2028 line separator, \x0b vertical tab, \x00 a NUL",
]
SOURCES = ["novel.txt#p1", "novel.txt#p2", "poems.jsonl#7", "t.csv#12", "odd#007", "log.txt#L3", "page.html",
           "a.zip/b.txt", "x#0"]


@pytest.fixture(autouse=True)
def small_buffers(monkeypatch):
    monkeypatch.setattr(store_module, "CHUNK_BYTES", 64)  # a buffer boundary every few documents
    monkeypatch.setattr(store_module, "MAPPED_CHUNK_BYTES", 32)  # most of them memory maps, some bytes


def test_texts_and_sources_come_back_as_they_went_in():
    given = [Document(text, source) for text, source in zip(TEXTS, SOURCES)]
    store = Documents(given)
    assert len(store) == len(given) and list(store) == given and store == given
    assert [store[i] for i in range(len(given))] == given
    assert store[-1] == given[-1] and store[2:5] == given[2:5] and store[::-3] == given[::-3]
    assert list(store.texts) == TEXTS and list(store.sources) == SOURCES
    assert store.texts[3] == TEXTS[3] and store.sources[-2] == SOURCES[-2] and store.texts[1:3] == TEXTS[1:3]
    assert store.chars == sum(map(len, TEXTS))
    with pytest.raises(IndexError):
        store[len(given)]
    assert store != given[:-1] and store != [*given[:-1], Document(TEXTS[-1], "other")]


def test_many_documents_fill_many_buffers_and_read_back_in_any_order():
    given = [Document(f"段落 {i} " * (i % 7) + "é" * (i % 3), f"big.txt#p{i + 1}") for i in range(2000)]
    store = Documents()
    for document in given:
        store.append(document)
    assert len(store._chunks) > 100
    assert list(store) == given
    assert [store[i] for i in range(1999, -1, -37)] == given[1999::-37]


def test_merged_stores_share_their_buffers_and_each_goes_on_growing_on_its_own():
    first, second = Documents([Document("one", "a.txt#p1")]), Documents([Document("two", "b.txt#p1")])
    first.extend(second)
    assert first._chunks[-1] is second._chunks[0]  # taken over, not copied
    second.append(Document("three", "b.txt#p2"))
    first.append(Document("four", "a.txt#p2"))
    assert [(d.text, d.source) for d in first] == [("one", "a.txt#p1"), ("two", "b.txt#p1"), ("four", "a.txt#p2")]
    assert [(d.text, d.source) for d in second] == [("two", "b.txt#p1"), ("three", "b.txt#p2")]
    empty = Documents()
    empty.extend(first)
    assert empty == first and empty.chars == first.chars == len("onetwofour")


def test_a_document_given_in_pieces_is_one_document():
    store = Documents([Document("before", "x")])
    store.add_pieces(["山中", "", "三日 " * 40, "🚀"], "whole.txt")
    store.append(Document("after", "y"))
    assert [d.text for d in store] == ["before", "山中" + "三日 " * 40 + "🚀", "after"]
    assert store[1].source == "whole.txt" and store.chars == 6 + 2 + 120 + 1 + 5


def test_the_head_of_a_document_decodes_only_its_start():
    store = Documents([Document("🚀" * 300, "a"), Document("", "b"), Document("ab", "c")])
    assert store.head(0, 200) == "🚀" * 200 and store.head(1, 200) == "" and store.head(-1, 1) == "a"


def test_a_load_result_given_a_list_stores_it():
    result = LoadResult([Document("text", "a.txt")])
    assert isinstance(result.documents, Documents) and result.texts[0] == "text" and result.sources[0] == "a.txt"


def test_json_escapes_that_make_lone_surrogates_survive_loading():
    lines = [json.dumps({"text": "half a pair \ud83d here"}), json.dumps(["ignored"]), json.dumps("\udc00 alone")]
    result = load_bytes("odd.jsonl", "\n".join(lines[::2]).encode())
    assert [d.text for d in result.documents] == ["half a pair \ud83d here", "\udc00 alone"]
    assert result.files[0].preview == ["half a pair \ud83d here", "\udc00 alone"]


def test_a_store_survives_pickling_and_copying_with_its_maps_as_bytes():
    store = Documents(Document(text, source) for text, source in zip(TEXTS * 3, SOURCES * 3))
    assert any(isinstance(chunk, mmap.mmap) for chunk in store._chunks)
    for copied in (pickle.loads(pickle.dumps(store)), copy.deepcopy(store)):
        assert copied == store and copied.chars == store.chars
        copied.append(Document("more", "more.txt#p1"))
        assert copied[-1] == Document("more", "more.txt#p1") and len(store) == len(TEXTS) * 3
