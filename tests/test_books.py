"""Whole books in one file are text, not outliers: cut at their chapters when loaded, cleaned with the defaults
losing almost nothing; a recipe that drops everything or most of the text says which step, rule and remedy."""

from __future__ import annotations

import json

from core.data.cleaning.pipeline import clean
from core.data.cleaning.recipe import Recipe
from core.data.loading import LoadOptions, load_bytes, load_paths
from tests.books import chinese_novel, content_lines, english_book
from tests.conftest import SHARED, require, run_core
from tests.test_pages import open_page


def _shared(name: str):
    path = SHARED / "data" / name
    require(path.exists(), f"{path} holds the shared corpora")
    return path


def _cleaned_with_the_defaults(path):
    loaded = load_paths([path], allowed_roots=None)
    result = clean(Recipe.default(), list(loaded.texts), list(loaded.sources))
    return loaded, result


def test_a_3_mb_book_is_cut_into_its_chapters_and_keeps_its_lines(tmp_path):
    text = english_book(_shared("tinyshakespeare.txt").read_text(encoding="utf-8"))
    assert len(text.encode()) > 3_000_000
    path = tmp_path / "thrice-told.txt"
    path.write_text(text, encoding="utf-8")
    loaded, result = _cleaned_with_the_defaults(path)
    cut = loaded.files[0].cut
    assert cut["heading"] == "Chapter" and cut["chapters"] == 304 and cut["documents"] == 305  # + the title page
    assert loaded.sources[1] == "thrice-told.txt#c2" and loaded.texts[1].startswith("CHAPTER I.\n")
    assert not result.dropped
    kept, had = len(content_lines(result.texts)), len(content_lines([text]))
    assert kept >= 0.99 * had, (kept, had)


def test_a_chinese_zhanghui_novel_is_cut_at_its_hui(tmp_path):
    text = chinese_novel(_shared("zh-poetry"))
    path = tmp_path / "章回.txt"
    path.write_text(text, encoding="utf-8")
    loaded, result = _cleaned_with_the_defaults(path)
    cut = loaded.files[0].cut
    assert cut["heading"] == "第…章/回" and cut["chapters"] >= 80
    assert loaded.texts[1].startswith("第一回　")
    kept, had = len(content_lines(result.texts)), len(content_lines([text]))
    assert kept >= 0.99 * had, (kept, had)


def test_a_book_without_headings_is_cut_at_blank_lines_and_short_files_stay_whole():
    from core.data.book import MAX_DOCUMENT_CHARS

    plays = _shared("tinyshakespeare.txt").read_text(encoding="utf-8")
    loaded = load_bytes("plays.txt", plays.encode())
    assert loaded.files[0].cut["heading"] is None
    assert len(loaded.documents) >= 11 and max(map(len, loaded.texts)) <= MAX_DOCUMENT_CHARS
    assert "".join(loaded.texts).replace("\n", "") == plays.replace("\n", "")  # nothing lost but blank lines
    short = load_bytes("act.txt", plays[:50_000].encode())
    assert len(short.documents) == 1 and short.files[0].cut is None
    # Splitting by paragraphs is still the user's choice, and a heading inside a short file cuts nothing.
    assert len(load_bytes("plays.txt", plays.encode(), LoadOptions(txt_split="paragraphs")).documents) > 7000


def test_the_length_limit_is_the_web_presets():
    assert Recipe.default().step("quality_filter").arguments()["max_chars"] is None
    assert Recipe.preset("web").step("quality_filter").arguments()["max_chars"] == 1_000_000


def test_the_command_line_cleans_most_of_a_book_and_names_the_step_that_drops_everything(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text(_shared("tinyshakespeare.txt").read_text(encoding="utf-8")[:1_003_000], encoding="utf-8")
    for preset in ([], ["--preset", "plays"]):
        done = run_core("clean", str(book), "--out", str(tmp_path / "out"), "--overwrite", *preset)
        assert done.returncode == 0, done.stderr
        assert "cut at blank lines into 11 documents" in done.stdout and "11 kept" in done.stdout

    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"steps": [{"name": "quality_filter", "params": {"max_chars": 10_000}}]}))
    short = tmp_path / "act.txt"
    short.write_text(book.read_text(encoding="utf-8")[:50_000], encoding="utf-8")
    done = run_core("clean", str(short), "--out", str(tmp_path / "none"), "--recipe", str(recipe))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: the recipe dropped every document: quality_filter: 1 of 1 documents over 10,000 characters; "
        "split the file (--split paragraphs) or raise max_chars")

    # Most of the text, and a whole file: saved from the command line, with a warning naming the step.
    poem = tmp_path / "poem.txt"
    poem.write_text("Shall I compare thee to a summer's day?\n", encoding="utf-8")
    done = run_core("clean", str(short), str(poem), "--out", str(tmp_path / "most"), "--recipe", str(recipe))
    assert done.returncode == 0, done.stderr
    assert "warning: the recipe dropped most of the text: 50,0" in done.stdout
    assert "warning: 1 files dropped whole: act.txt" in done.stdout
    assert "warning: quality_filter: 1 of 2 documents over 10,000 characters" in done.stdout


def test_the_data_page_asks_before_a_save_that_loses_most_of_the_text(workspace):
    at = open_page("data")
    at.number_input(key="recipe.quality_filter.max_chars").set_value(300).run()
    assert any("longer than the quality filter's maximum (300)" in w.value for w in at.warning)
    at.text_input(key="save.name").input("most-lost").run()
    at.button(key="save.button").click().run()
    assert not at.exception
    warning = next(w.value for w in at.warning if "Not saved yet" in w.value)
    assert "Quality filter:" in warning and "over 300 characters" in warning and "Maximum characters" in warning
    assert not (workspace.datasets_dir / "most-lost").exists()
    at.checkbox(key="save.accept").check().run()
    at.button(key="save.button").click().run()
    assert not at.exception and (workspace.datasets_dir / "most-lost" / "data.jsonl").is_file()
    assert any("Saved 'most-lost'" in w.value and "over 300 characters" in w.value for w in at.warning)


def test_the_data_page_shows_the_table_when_every_document_is_dropped(workspace):
    at = open_page("data", "zh")
    at.number_input(key="recipe.quality_filter.min_words").set_value(1_000_000).run()
    at.text_input(key="save.name").input("none-left").run()
    at.button(key="save.button").click().run()
    assert not at.exception
    error = next(e.value for e in at.error if "见下表" in e.value)
    assert "见下表" in error and "质量过滤" in error and "少于 1,000,000 个词" in error and "调低最少词数" in error
    assert "质量过滤" in set(at.dataframe[-1].value["步骤"])


def test_the_file_table_says_how_a_book_was_cut(workspace):
    inbox = workspace.data_roots()[0]
    (inbox / "novel").mkdir()
    (inbox / "novel" / "章回.txt").write_text(chinese_novel(_shared("zh-poetry")), encoding="utf-8")
    at = open_page("data", "zh")
    at.radio(key="data.source").set_value("folder").run()
    at.text_input(key="data.folder").input("novel").run()
    assert not at.exception
    files = at.dataframe[0].value
    note = files[files.columns[-1]].iloc[0]
    assert note.startswith("按“第…章/回”标题切成 8") and "章，共" in note
