"""Cleaning keeps the author's text: the default recipe and the presets on the real verse, prose and plays in ../shared.

Each corpus is loaded as a user would load it: the poetry JSON files with the default fields, the plays split into
paragraphs (one speech each) or into scene-sized documents. Run with -s to see the measured numbers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache

import pytest

from core.data.cleaning.fidelity import measure
from core.data.cleaning.pipeline import clean
from core.data.cleaning.recipe import PRESETS, Recipe
from core.data.corpus import manifest, sample_files
from core.data.loading import LoadOptions, load_paths
from tests.conftest import ROOT, SHARED, core_env, require

DATA = SHARED / "data"
POETRY = DATA / "zh-poetry"
CHINESE = ["shijing.json", "宋词三百首.json", "lunyu.json", "poet.tang.0.json"]
PLAYS = ["plays/paragraphs", "plays/scenes"]
SCENES = 64  # the plays as this many documents of consecutive speeches
SPEAKER = re.compile(r"^[A-Z][A-Za-z' ]*:$")  # "First Citizen:", "KING RICHARD III:"


@cache
def corpus(name: str) -> tuple[str, ...]:
    require(SHARED.exists(), "../shared is missing")
    if name.startswith("plays/"):
        loaded = load_paths([DATA / "tinyshakespeare.txt"], LoadOptions(txt_split="paragraphs"), allowed_roots=None)
        speeches = [d.text for d in loaded.documents]
        if name == "plays/paragraphs":
            return tuple(speeches)
        size = -(-len(speeches) // SCENES)
        return tuple("\n\n".join(speeches[i : i + size]) for i in range(0, len(speeches), size))
    return tuple(d.text for d in load_paths([POETRY / name], allowed_roots=None).documents)  # the default fields, as the page and CLI


@cache
def cleaned(name: str, preset: str | None = None):
    recipe = Recipe.preset(preset) if preset else Recipe.default()
    return clean(recipe, list(corpus(name)), workers=1)


@pytest.mark.parametrize("name", CHINESE + PLAYS)
def test_default_recipe_keeps_the_authors_text(name):
    texts = list(corpus(name))
    fidelity = measure(texts, cleaned(name))
    print(f"{name}: {fidelity.summary()}, {fidelity.duplicates} duplicates")
    assert fidelity.originals > 0.95 * len(texts)  # the duplicates are few: the rest is measured
    assert fidelity.drop_share <= 0.01, fidelity.dropped
    assert fidelity.kept_share >= 0.99


@pytest.mark.parametrize("name", PLAYS)
def test_speaker_names_survive(name):
    texts, result = list(corpus(name)), cleaned(name)
    for index, text in zip(result.kept, result.texts):
        before = [" ".join(line.split()) for line in texts[index].splitlines() if SPEAKER.match(line.strip())]
        after = [line for line in text.splitlines() if SPEAKER.match(line)]
        assert after == before, texts[index][:200]  # every speaker, in order ("LADY  CAPULET:" squeezed)
    speakers = sum(1 for text in result.texts for line in text.splitlines() if SPEAKER.match(line))
    assert speakers > 0.9 * len(corpus("plays/paragraphs"))  # nearly every speech opens with its speaker


@pytest.mark.parametrize("name", ["poet.tang.0.json", "plays/paragraphs"])
def test_the_parallel_run_cleans_real_text_as_the_serial_one(name, monkeypatch):
    """The workers also compute the corpus steps' parts (exact-dedup digests, boilerplate line keys, MinHash
    signatures) at the end of the per-document steps: on real text, with copies planted and in small chunks,
    both cores give what one process gives, document for document and count for count."""
    import core.data.cleaning.pipeline as pipeline

    texts = list(corpus(name))
    texts += [texts[5].upper(), texts[9].replace("，", "，  ", 1).replace(",", ",  ", 1)] + texts[40:43]
    serial = clean(Recipe.default(), texts, workers=1)
    monkeypatch.setattr(pipeline, "CHUNK_CHARS", 40_000)  # several chunks per worker
    parallel = clean(Recipe.default(), texts, workers=2)
    assert parallel.texts == serial.texts and parallel.kept == serial.kept and parallel.dropped == serial.dropped
    assert [vars(s) for s in parallel.steps] == [vars(s) for s in serial.steps]
    assert len(serial.dropped) >= 4  # the planted copies went, in both


@pytest.mark.parametrize("name, copied", [("lunyu.json", 3), ("plays/scenes", 7)])
def test_five_copies_of_a_document_leave_exactly_one(name, copied):
    texts = list(corpus(name))
    original = texts[copied]
    with_copies = texts + [original] * 4  # five in all, in a corpus small enough for them to look like boilerplate
    result = clean(Recipe.default(), with_copies, workers=1)
    survivors = [text for index, text in zip(result.kept, result.texts) if with_copies[index] == original]
    assert len(survivors) == 1
    assert result.kept.count(copied) == 1
    assert [line.strip() for line in survivors[0].splitlines() if line.strip()] == [
        line.strip() for line in original.splitlines() if line.strip()
    ]


def test_a_title_with_a_subtitle_keeps_its_separation():
    texts, result = list(corpus("poet.tang.0.json")), cleaned("poet.tang.0.json")
    spaced = re.compile(r"[\u4e00-\u9fff] +[\u4e00-\u9fff]")
    titles = {i: texts[i].splitlines()[0] for i in result.kept if spaced.search(texts[i].splitlines()[0])}
    assert len(titles) > 20  # "帝京篇十首 一", "郊廟歌辭 享太廟樂章 …"
    firsts = {i: text.splitlines()[0] for i, text in zip(result.kept, result.texts)}
    for i, title in titles.items():
        assert firsts[i] == " ".join(title.split()), title  # runs of spaces squeezed, never removed
    for text in ["步出夏门行 冬十月\n孟冬十月，北风徘徊，\n天气肃清，繁霜霏霏。", "帝京篇十首　一\n秦川雄帝宅，函谷壯皇居。"]:
        first = clean(Recipe.default(), [text]).texts[0].splitlines()[0]
        assert first in ("步出夏门行 冬十月", "帝京篇十首 一")


def test_the_cli_reads_the_shared_poetry_json_without_field_flags(tmp_path):
    require(SHARED.exists(), "../shared is missing")
    out = tmp_path / "poetry"
    command = [sys.executable, "-m", "core", "clean", *(str(POETRY / n) for n in CHINESE), "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, env=core_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "skipped" not in result.stdout
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    objects = sum(len(json.loads((POETRY / n).read_text(encoding="utf-8"))) for n in CHINESE)
    assert report["docs_in"] == objects
    assert [f["read_fields"] for f in report["files"]] == [["title", "content"], ["paragraphs"], ["paragraphs"],
                                                           ["title", "paragraphs"]]
    assert "non-duplicate documents dropped (0.00%)" in result.stdout


@pytest.mark.parametrize("preset, names", [("verse", CHINESE), ("plays", PLAYS), ("prose", ["lunyu.json"])])
def test_each_preset_keeps_its_kind_of_text(preset, names):
    for name in names:
        fidelity = measure(list(corpus(name)), cleaned(name, preset))
        print(f"{preset} on {name}: {fidelity.summary()}")
        assert fidelity.drop_share <= 0.01 and fidelity.kept_share >= 0.99, (name, fidelity.dropped)


def test_prose_preset_keeps_the_sample_stories_and_drops_the_junk():
    entries = [e for e in manifest() if e["format"] == "txt"]
    files = {e["file"]: e for e in entries}
    docs = load_paths([f for f in sample_files() if f.name in files], allowed_roots=None).documents
    result = clean(Recipe.preset("prose"), [d.text for d in docs], [d.source for d in docs])
    kept = set(result.sources)
    for doc in docs:
        planted = files[doc.source]["planted"]
        if not planted:
            assert doc.source in kept  # a clean story, essay, diary or poem stays
        if any(p.split(":")[0] in ("junk", "exact_duplicate_of", "whitespace_duplicate_of", "near_duplicate_of")
               for p in planted):
            assert doc.source not in kept, doc.source


def test_web_preset_extracts_the_articles_of_real_pages():
    require((DATA / "html").is_dir(), "../shared/data/html is missing")
    pages = load_paths([DATA / "html"], allowed_roots=None).documents
    result = clean(Recipe.preset("web"), [d.text for d in pages], [d.source for d in pages])
    assert len(result.texts) >= len(pages) - 1  # one paywalled page may hold too little text
    for text in result.texts:
        assert "<div" not in text and "<script" not in text and len(text) < 20_000
    assert any("Parasite" in text for text in result.texts) and any("新加坡" in text for text in result.texts)


def test_presets_differ_from_the_default_and_cover_the_four_kinds():
    assert list(PRESETS) == ["verse", "prose", "web", "plays"]
    default = Recipe.default()
    for name in PRESETS:
        assert Recipe.preset(name) != default, name
    assert not Recipe.preset("verse").step("remove_boilerplate_lines").enabled
    assert Recipe.preset("web").step("language_filter").enabled
