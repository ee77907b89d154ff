"""Every page renders in both languages through the real entry point (Streamlit's AppTest)."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import LANGUAGES, texts
from dashboard.navigation import PAGES
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")


def open_page(page: str, lang: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = lang
    at.run()
    if page != "home":
        at.switch_page(f"../pages/{page}.py").run()
    return at


@pytest.mark.parametrize("lang", list(LANGUAGES))
@pytest.mark.parametrize("page", [name for name, _ in PAGES])
def test_page_renders(page, lang, workspace):
    at = open_page(page, lang)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == texts(lang)[f"{page}.title"]
    assert at.sidebar.selectbox[0].value == lang
    assert str(workspace.root) in [c.value for c in at.sidebar.code]


def test_switching_language_relabels_the_page(workspace):
    at = open_page("data")
    at.sidebar.selectbox[0].set_value("zh").run()
    assert at.title[0].value == texts("zh")["data.title"]
    assert at.query_params["lang"] == "zh"


def test_no_gpu_notice_on_a_cpu_machine(workspace):
    import torch

    at = open_page("home")
    notices = [i.value for i in at.sidebar.info]
    if torch.cuda.is_available():
        assert texts("en")["hardware.no_gpu"] not in notices
    else:
        assert texts("en")["hardware.no_gpu"] in notices


def test_home_shows_the_workspace(workspace):
    at = open_page("home")
    assert [m.value for m in at.metric] == ["0", "0", "0"]
    assert at.success[0].value == texts("en")["home.starter_ready"]

    dataset = workspace.datasets_dir / "poems"
    dataset.mkdir(parents=True)
    (dataset / "data.jsonl").write_text('{"text": "x"}\n')
    run = workspace.runs_dir / "first-run"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "completed"}))
    at.run()
    assert [m.value for m in at.metric] == ["1", "1", "0"]
    captions = " ".join(c.value for c in at.caption)
    assert "poems" in captions and "first-run (completed)" in captions


def test_home_warns_when_the_starter_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("QUILL_HOME", str(tmp_path))
    at = open_page("home")
    assert not at.exception
    assert "python -m core starter" in at.warning[0].value


def test_data_page_lists_the_sample_corpus(workspace):
    at = open_page("data")
    frame = at.dataframe[0].value
    assert len(frame) >= 40 and {"en", "zh"} <= set(frame.iloc[:, 1])
