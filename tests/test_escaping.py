"""User-, corpus- and model-supplied strings reach Streamlit's markdown escaped: they show as text and fetch nothing."""

from __future__ import annotations

import html
import json
import re

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dashboard.safe_text import WORD_JOINER, md_escape
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")
INJECT = "![x](http://127.0.0.1:9/x.png) **bold** $x$"
INJECT_NAME = "![x](x.png) **bold** $x$"  # the same attack where a name cannot hold '/': files, folders
RAW = ("![x](", "**bold**", "$x$", "http://")  # none of these may reach the markdown renderer as they are

NASTY = [
    INJECT, INJECT_NAME, "<img src=x onerror=alert(1)> <b>b</b> <http://127.0.0.1:9/a>", "`code` ~~gone~~ ~x~",
    "_it_ __strong__ *a* *** HF_HUB_OFFLINE x_y_ _a_b_ a__b__c 诗_词_", "[link](javascript:alert(1)) [ref][1] [^1]",
    "&amp; &lt; &#x41; &copy;",
    "\\* \\", "# heading", "- item", "+ item", "> quote", "1986. a year", "3) three", "---", "***", "=== x",
    "line one\n# heading\n\n    code\n> quote", ":red[red] :smile: :material/home: :+1:", "10:30 a|b | c |",
    "www.example.org and https://x.y and a@b.co", "  leading and trailing  ", "", "青石镇的雨 **下了** 三天",
]


def _markdown_it() -> MarkdownIt:
    # CommonMark with GFM's strikethrough and tables: a reference renderer for everything but Streamlit's extras
    return MarkdownIt("commonmark").enable(["strikethrough", "table"])


@pytest.mark.parametrize("text", NASTY)
def test_md_escape_renders_as_its_own_text(text):
    rendered = _markdown_it().render(md_escape(text))
    assert re.findall(r"<(\w+)", rendered) in ([], ["p"]), rendered  # no image, link, emphasis, code, heading...
    shown = html.unescape(re.sub(r"</?p>", "", rendered)).replace(WORD_JOINER, "").strip()
    assert shown == " ".join(text.split())


@pytest.mark.parametrize("text", NASTY)
def test_md_escape_leaves_no_math_shortcode_or_autolink(text):
    escaped = md_escape(text)
    assert not re.search(r"(?<!\\)[$:\[]", escaped)  # LaTeX, :shortcodes:, :directives[...] and links all escaped
    # GFM finds autolinks in the text after escapes are resolved (mdast-util-gfm-autolink-literal's patterns)
    unescaped = re.sub(r"\\(.)", r"\1", escaped)
    assert not re.search(r"(https?://|www(?=\.))[-.\w]+", unescaped, re.I)
    assert not re.search(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+", unescaped)
    assert "\n" not in escaped


def test_plain_names_stay_readable():
    assert md_escape("first-run (completed) 1.5e-05 · 诗") == "first-run (completed) 1.5e-05 · 诗"


# --- the pages ------------------------------------------------------------------------------------------------

PLAIN = {"text", "code", "html", "dataframe", "json"}  # shown as text by Streamlit itself


def markdown_strings(at: AppTest) -> list[str]:
    """Every string on the page that Streamlit renders as markdown: bodies, labels, metric values, radio options,
    help tooltips, progress texts."""
    found = []
    for root in (at.main, at.sidebar):
        for node in root:
            if node.type in PLAIN or node.proto is None:
                continue
            values = [getattr(node.proto, field, None) for field in ("body", "label", "help", "text")]
            found += [v for v in values if isinstance(v, str)]
            if node.type == "radio":
                found += list(node.proto.options)
    return found


def assert_shown_as_text(at: AppTest, *strings: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    shown = markdown_strings(at)
    for fragment in RAW:
        assert not [s for s in shown if fragment in s], fragment
    for string in strings:
        assert any(md_escape(string) in s for s in shown), (string, shown)


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "en"
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "home":
        at.switch_page(f"../pages/{page}.py").run()
    return at


def test_dataset_text_and_a_bad_name_on_the_data_page(workspace):
    from core.data import dataset

    texts = [f"{INJECT} document {i} of a corpus that someone else wrote." for i in range(20)]
    dataset.save(workspace.datasets_dir / "injected", texts, recipe={}, report={"chars_out": 1})
    at = open_page("data")
    assert_shown_as_text(at, texts[0][:60])  # the first documents are expanders labelled with their start
    assert any(md_escape(texts[0][:60]) in e.label for e in at.expander)

    at.text_input(key="save.name").input(INJECT).run()  # not a usable name: the error repeats it
    at.button(key="save.button").click().run()
    assert at.error and "not a usable dataset name" in at.error[0].value
    assert_shown_as_text(at, INJECT)


def test_an_uploaded_file_name_in_the_cleaning_preview(workspace):
    text = "The lighthouse keeper climbed the stairs every evening and lit the lamp before the ships came in."
    at = open_page("data")
    at.radio(key="data.source").set_value("upload").run()
    # The second file is dropped as a duplicate "of" the first, and the reason names the first file.
    at.file_uploader(key="data.uploads").set_value([(f"{INJECT_NAME}.txt", text.encode(), "text/plain"),
                                                    ("copy.txt", text.encode(), "text/plain")]).run()
    at.selectbox(key="data.document").set_value(1).run()
    assert_shown_as_text(at, f"{INJECT_NAME}.txt")
    assert any(md_escape(f"{INJECT_NAME}.txt") in e.value for e in at.error)


def _run_folder(workspace, name: str, status: dict, model: str = "starter") -> None:
    from core.train.config import TrainConfig

    run = workspace.runs_dir / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(TrainConfig(model=model, dataset="d").to_json(), encoding="utf-8")
    (run / "status.json").write_text(json.dumps(status), encoding="utf-8")


def test_run_names_and_errors_on_the_train_page(workspace):
    _run_folder(workspace, "failed-run", {"state": "failed", "error": INJECT, "step": 3, "max_steps": 10})
    _run_folder(workspace, INJECT_NAME, {"state": "stopped", "step": 1, "max_steps": 10}, model=INJECT)
    at = open_page("train", run="failed-run")
    assert_shown_as_text(at, INJECT)  # the run's error, in the error box
    assert any(md_escape(INJECT) in e.value for e in at.error)

    at.selectbox(key="runs.pick").set_value(INJECT_NAME).run()  # the delete checkbox names the run
    assert_shown_as_text(at, INJECT_NAME)


def test_the_latest_run_on_the_home_page(workspace):
    _run_folder(workspace, INJECT_NAME, {"state": INJECT})  # "Latest: <run> (<state>)", both read from files
    at = open_page("home")
    assert_shown_as_text(at, INJECT_NAME)
    # the state is derived (issue 10): a state that is no state reads as "unreadable", never as the file's text
    assert not any(INJECT in m.value for m in [*at.markdown, *at.caption])


def test_model_settings_and_sample_texts_in_the_playground(workspace, quick_models):
    at = open_page("playground", model=INJECT)  # "Open in Playground" puts the model in the URL
    at.slider(key="pg.columns").set_value(1)
    at.text_input(key="pg.col.0.name").input(INJECT)
    at.number_input(key="pg.col.0.max_new_tokens").set_value(2)
    at.text_area(key="pg.prompts").input(INJECT)
    at.run()
    at.button(key="pg.generate").click().run()
    assert at.session_state["pg.results"], "the (stand-in) starter model generated nothing"
    assert any("Cannot load" in e.value for e in at.error)  # the injected model name cannot load, and says so
    assert_shown_as_text(at, INJECT)
    assert any(h.value == f"starter · {md_escape(INJECT)}" for h in at.subheader)


def test_ratings_page_with_an_injected_sample_rater_and_rubric(workspace):
    from core.ratings import rubric
    from core.ratings.store import open_store

    with open_store() as store:
        store.add_samples([{"model": INJECT, "source": "playground", "prompt": INJECT, "text": INJECT,
                            "config_name": INJECT, "seed": 0, "sample_index": 0, "settings": {}}])
    rubric.save(workspace, {"style": INJECT})
    at = open_page("ratings", rater=INJECT)
    assert_shown_as_text(at, INJECT)
    assert any(md_escape(INJECT) in c.value for c in at.caption)  # the sample's provenance: model and setting
    assert any(r.help == md_escape(INJECT) for r in at.radio)  # the workspace's rubric question
    assert INJECT in [x.value for x in at.text]  # prompt and continuation, literal in st.text
