"""Corpus-level cleaning steps: boilerplate lines, exact and near duplicates, on the sample corpus and by hand."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from core.data.cleaning.corpus_steps import (
    CORPUS_STEP_FUNCTIONS,
    boilerplate_removal,
    exact_dedup,
    near_dedup,
    remove_boilerplate_lines,
)
from core.data.cleaning.outcome import Dropped

SAMPLE = Path(__file__).resolve().parent.parent / "core" / "data" / "corpus" / "sample"
MANIFEST = json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))


def read(entry: dict) -> str:
    return (SAMPLE / entry["file"]).read_bytes().decode(entry["encoding"])


def planted(kind: str) -> dict[str, str]:
    """{file: original file} for the manifest entries planted as `kind`."""
    out = {}
    for entry in MANIFEST:
        for mark in entry["planted"]:
            if mark.startswith(kind + ":"):
                out[entry["file"]] = mark.split(":", 1)[1]
    return out


@pytest.fixture(scope="module")
def txt_docs() -> list[tuple[str, str]]:
    """(file, text) for every plain-text file of the sample corpus: one document per file."""
    return [(e["file"], read(e)) for e in MANIFEST if e["format"] == "txt"]


def dropped_files(files: list[str], outcomes: list) -> dict[str, str]:
    """{dropped file: the file its Dropped names as the original}."""
    return {f: files[o.values["of"]] for f, o in zip(files, outcomes) if isinstance(o, Dropped)}


# ---------------------------------------------------------------- the sample corpus


def test_exact_dedup_drops_the_planted_exact_and_whitespace_duplicates(txt_docs):
    files = [f for f, _ in txt_docs]
    outcomes = exact_dedup([t for _, t in txt_docs])
    assert len(outcomes) == len(files)
    expected = planted("exact_duplicate_of") | planted("whitespace_duplicate_of")
    assert len(expected) == 3  # en-16, zh-15 exact; en-17 rewrapped
    assert dropped_files(files, outcomes) == expected
    for o in outcomes:
        if isinstance(o, Dropped):
            assert o.code == "exact_duplicate"
            assert o.message == f"same text as document #{o.values['of']}"


def test_near_dedup_after_exact_dedup_drops_exactly_the_planted_near_duplicates(txt_docs):
    survivors = [(f, t) for (f, t), o in zip(txt_docs, exact_dedup([t for _, t in txt_docs])) if isinstance(o, str)]
    files = [f for f, _ in survivors]
    outcomes = near_dedup([t for _, t in survivors])
    assert len(outcomes) == len(files)
    expected = planted("near_duplicate_of")
    assert len(expected) == 4  # en-18, en-19, zh-16, zh-17
    assert dropped_files(files, outcomes) == expected
    for o in outcomes:
        if isinstance(o, Dropped):
            assert o.code == "near_duplicate"
            assert 0.8 <= o.values["similarity"] <= 1.0
            assert o.message == f"{o.values['similarity']:.0%} similar to document #{o.values['of']}"
    # Kept documents come back untouched.
    assert [o for o in outcomes if isinstance(o, str)] == [t for (_, t), o in zip(survivors, outcomes) if isinstance(o, str)]


def test_boilerplate_footer_leaves_the_html_articles_and_the_plain_documents_alone(txt_docs):
    from selectolax.lexbor import LexborHTMLParser

    html_entries = [e for e in MANIFEST if e["format"] == "html" and e["file"].startswith("en-")]
    assert all("boilerplate_footer" in e["planted"] for e in html_entries)
    html_texts = [LexborHTMLParser(read(e)).body.text(separator="\n") for e in html_entries]
    plain = [t for f, t in txt_docs if f.startswith("en-0")][:6]  # clean stories, essays, poems
    outcomes = remove_boilerplate_lines(html_texts + plain)  # 4 of 10 documents share the footer

    assert outcomes[len(html_texts) :] == plain
    for raw, cleaned in zip(html_texts, outcomes[: len(html_texts)]):
        assert isinstance(cleaned, str)
        lines = {line.strip() for line in cleaned.splitlines()}
        assert "Share this article" in raw and "Share this article" not in lines
        assert "Subscribe to our newsletter" not in lines
        # Every article paragraph (a long line found in this document only) stays.
        article = [line.strip() for line in raw.splitlines() if len(line.strip()) > 80]
        assert article and all(line in lines for line in article)
        assert longest_blank_run(cleaned) <= longest_blank_run(raw)  # removed lines leave no pile of blank lines


def longest_blank_run(text: str) -> int:
    longest = run = 0
    for line in text.splitlines():
        run = run + 1 if not line.strip() else 0
        longest = max(longest, run)
    return longest


# ---------------------------------------------------------------- boilerplate by hand

FOOTER = "Share this article"


def test_a_line_repeated_inside_one_document_only_stays():
    refrain = "And still the river runs."
    poem = f"{refrain}\nThe stones remember.\n{refrain}\nThe reeds forget.\n{refrain}\n"
    others = ["A story about boats.\n", "An essay on commas.\n", "A diary of trains.\n"]
    assert remove_boilerplate_lines([poem, *others], min_documents=3, min_fraction=0.3) == [poem, *others]


def test_boilerplate_is_removed_keeping_paragraphs_and_a_document_of_only_boilerplate_is_dropped():
    docs = [
        f"First paragraph.\n\nSecond paragraph.\n\n{FOOTER}\n",
        f"Para A.\n\n\nPara B.\n  {FOOTER}  ",
        f"{FOOTER}\n\nOnly text here.\n\n{FOOTER}\n",
        f"\n{FOOTER}\n\n",
        "Nothing shared here.\n",
    ]
    out = remove_boilerplate_lines(docs, min_documents=3, min_fraction=0.3)
    assert out[0] == "First paragraph.\n\nSecond paragraph.\n"
    assert out[1] == "Para A.\n\n\nPara B."  # no trailing newline added
    assert out[2] == "Only text here.\n"
    assert isinstance(out[3], Dropped) and out[3].code == "only_boilerplate" and out[3].values == {"lines": 1}
    assert out[4] == docs[4]


def test_boilerplate_is_what_repeats_at_the_edges_never_inside_the_body():
    body = "\n".join(f"Line {i} of the story." for i in range(30))
    inside = f"{body}\n{FOOTER}\n{body}\n"  # the same line, in the middle of a long document
    docs = [f"Story {i}.\n{FOOTER}\n" for i in range(4)] + [inside]
    out = remove_boilerplate_lines(docs, min_documents=3, min_fraction=0.3)
    assert out[:4] == [f"Story {i}.\n" for i in range(4)] and out[4] == inside


def test_labels_and_short_titles_are_never_boilerplate():
    # Speakers open every speech of a play; a tune name or a short title opens many poems of an anthology.
    speeches = [f"MENENIUS:\nSpeech number {i}, which is different." for i in range(10)]
    assert remove_boilerplate_lines(speeches) == speeches
    poems = [f"浣溪沙\n第{i}首词的正文，各不相同。" for i in range(10)]
    assert remove_boilerplate_lines(poems) == poems
    # A short line goes with a long one in the same edge run (a site's header), not alone.
    headed = [f"Home\nWe use cookies to improve your experience.\nArticle {i} text." for i in range(10)]
    assert remove_boilerplate_lines(headed) == [f"Article {i} text." for i in range(10)]


def test_removed_lines_are_reported_with_their_document_counts():
    docs = [f"Text {i}.\n{FOOTER}\n" for i in range(5)] + ["Other.\n"] * 2
    outcomes, removed = boilerplate_removal(docs)
    assert removed == {FOOTER: 5}
    assert outcomes == remove_boilerplate_lines(docs)


def test_thresholds_documents_and_fraction():
    docs = [f"Text {i}.\n{FOOTER}\n" for i in range(3)] + [f"Other {i}.\n" for i in range(7)]
    # 3 of 10 documents: enough at 30 %, not at 40 %, and never with min_documents above the count.
    assert all(FOOTER not in o for o in remove_boilerplate_lines(docs, min_documents=3, min_fraction=0.3))
    assert remove_boilerplate_lines(docs, min_documents=3, min_fraction=0.4) == docs
    assert remove_boilerplate_lines(docs, min_documents=4, min_fraction=0.1) == docs
    # Fewer documents than min_documents: nothing is removed, even if every one has the line.
    assert remove_boilerplate_lines(docs[:2], min_documents=3) == docs[:2]
    # Lines longer than max_line_chars are never boilerplate.
    long_line = "x" * 50
    longs = [f"Text {i}.\n{long_line}\n" for i in range(3)]
    assert remove_boilerplate_lines(longs, max_line_chars=49) == longs
    assert remove_boilerplate_lines(longs, max_line_chars=50) == [f"Text {i}.\n" for i in range(3)]


def test_chinese_footer():
    footer = "版权所有 © 2026 港湾日报"
    docs = [f"第{i}篇正文。\n{footer}\n" for i in range(4)]
    assert remove_boilerplate_lines(docs) == [f"第{i}篇正文。\n" for i in range(4)]


# ---------------------------------------------------------------- exact duplicates by hand


def test_exact_dedup_keeps_the_first_and_names_it():
    docs = ["Hello  World.\n", "other", "hello world.", "HELLO\tWORLD.", "other ", "third"]
    out = exact_dedup(docs)
    assert out[0] == docs[0] and out[1] == docs[1] and out[5] == docs[5]
    assert [o.values for o in (out[2], out[3], out[4])] == [{"of": 0}, {"of": 0}, {"of": 1}]
    assert out[2] == Dropped("exact_duplicate", "same text as document #0", {"of": 0})


def test_exact_dedup_ignores_spaces_between_cjk_characters():
    out = exact_dedup(["春眠不觉晓，处处闻啼鸟。", "春 眠 不 觉 晓 ， 处 处\n闻 啼 鸟 。", "夜来风雨声。"])
    assert out[0] == "春眠不觉晓，处处闻啼鸟。" and out[2] == "夜来风雨声。"
    assert out[1].values == {"of": 0}


# ---------------------------------------------------------------- near duplicates by hand

COMMON_HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你而能下过子说产种面方后多定行学法所民得经"
    "十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那"
)


def chinese_text(seed: int, n: int = 300) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(COMMON_HANZI) for _ in range(n))


def test_chinese_near_duplicate_with_three_characters_changed_in_300_is_caught():
    original = chinese_text(1)
    chars = list(original)
    for pos in (40, 150, 260):
        chars[pos] = "龙" if chars[pos] != "龙" else "凤"
    changed = "".join(chars)
    rewrapped = "\n".join(changed[i : i + 30] for i in range(0, 300, 30))  # line breaks do not matter for CJK
    out = near_dedup([original, chinese_text(2), rewrapped], threshold=0.8)
    assert out[0] == original and out[1] == chinese_text(2)
    assert isinstance(out[2], Dropped) and out[2].code == "near_duplicate" and out[2].values["of"] == 0
    assert out[2].values["similarity"] >= 0.8


def test_different_chinese_texts_on_the_same_topic_are_kept():
    a = (
        "清晨的西湖笼着一层薄雾，断桥边已经有人在打太极。柳枝垂到水面上，偶尔有一只白鹭掠过，把平静的湖面划出一道细纹。"
        "我沿着白堤慢慢走，卖早点的小摊刚刚支起来，豆浆的热气和湖上的雾混在一起，分不清哪一缕是哪一缕。"
    )
    b = (
        "傍晚去西湖，游人比白天少了许多。夕阳落在雷峰塔后面，湖水从金色慢慢变成深蓝。苏堤上的路灯一盏盏亮起，"
        "几条游船还在远处晃着，船娘的歌声断断续续地飘过来。我在长椅上坐了很久，直到湖边的风有些凉了才回去。"
    )
    assert near_dedup([a, b]) == [a, b]


def test_near_dedup_order_and_first_kept_semantics():
    base = " ".join(f"word{i}" for i in range(200))
    variant = base.replace("word100", "changed")
    other = " ".join(f"other{i}" for i in range(200))
    # The first of a pair stays, whichever it is; a later near copy names the first kept one.
    out = near_dedup([variant, other, base, variant.upper()])
    assert out[:3] == [variant, other, Dropped("near_duplicate", out[2].message, out[2].values)]
    assert out[2].values["of"] == 0 and out[3].values["of"] == 0  # case does not matter for words
    out = near_dedup([base, variant])
    assert out[0] == base and out[1].values["of"] == 0


def test_near_dedup_short_and_empty_texts():
    # Fewer than 5 words: the whole sequence is one shingle, so equal short texts match and different ones do not.
    assert [isinstance(o, Dropped) for o in near_dedup(["Hello there!", "hello, THERE", "Hello here"])] == [
        False,
        True,
        False,
    ]
    assert near_dedup(["", "  ", "text"]) == ["", "  ", "text"]


def test_registry():
    assert CORPUS_STEP_FUNCTIONS == {
        "remove_boilerplate_lines": remove_boilerplate_lines,
        "exact_dedup": exact_dedup,
        "near_dedup": near_dedup,
    }


def test_near_dedup_on_several_cores_equals_one(monkeypatch):
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    import core.data.cleaning.corpus_steps as corpus_steps

    base = [f"document {i} " + " ".join(f"w{(i * 7 + k) % 997}" for k in range(60)) for i in range(300)]
    texts = base + [t.replace("w1 ", "x1 ", 1) for t in base[:50]]  # 50 near copies
    serial = near_dedup(texts)
    monkeypatch.setattr(corpus_steps, "PARALLEL_MIN_DOCS", 100)
    monkeypatch.setattr(corpus_steps, "PARALLEL_CHUNK_DOCS", 64)
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        assert near_dedup(texts, pool_map=pool.map) == serial
    assert sum(isinstance(o, Dropped) for o in serial) >= 50


def reference_shingles(text: str, size: int = 5) -> set[str]:
    """The shingles near dedup compares, written plainly: five lower-cased words joined by spaces, or five
    characters (whitespace removed) of a text that is more than 30% CJK; a shorter text is one shingle."""
    cjk = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]")
    letters = re.sub(r"\s+", "", text)
    if letters and len(cjk.findall(text)) / len(letters) > 0.3:
        units, glue = list(letters), ""
    else:
        units, glue = re.findall(r"\w+", text.lower()), " "
    if len(units) <= size:
        return {glue.join(units)} if units else set()
    return {glue.join(units[i : i + size]) for i in range(len(units) - size + 1)}


def test_vectorized_shingle_hashes_are_the_shingles():
    # Equal shingles hash equal, different ones differ: the counts of distinct and of shared hashes are those of
    # the shingle sets, on odd texts (İ lowers to two characters, lone surrogates, NUL, marks) and on real ones.
    from core.data.cleaning.minhash import shingle_hashes
    from core.data.corpus import sample_texts

    rng = random.Random(0)
    pieces = ["a", "b c", "Ab", "İ", "é", "春", "风", "\n", "  ", "！", "x_1", "\ud800", "\x00", "ß", "ǅ", "\u0301"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(2000)] + sample_texts()
    hashes = [set(h.tolist()) for h in shingle_hashes(texts)]
    shingle_sets = [reference_shingles(t) for t in texts]
    assert [len(h) for h in hashes] == [len(s) for s in shingle_sets]
    for _ in range(3000):
        i, j = rng.randrange(len(texts)), rng.randrange(len(texts))
        assert len(hashes[i] & hashes[j]) == len(shingle_sets[i] & shingle_sets[j]), (texts[i], texts[j])


@pytest.mark.parametrize("num_perm, seed", [(128, 1), (64, 7), (256, 12345)])
def test_minhash_permutations_are_datasketchs(num_perm, seed):
    # Drawn without importing datasketch (scipy costs every process half a second): they must be its own.
    from datasketch import MinHash

    from core.data.cleaning.minhash import permutations

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    mine = permutations(num_perm, seed)
    assert np.array_equal(mine[0], a) and np.array_equal(mine[1], b)
    assert mine[0].dtype == mine[1].dtype == np.uint32
