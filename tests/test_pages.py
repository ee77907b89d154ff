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
    assert str(workspace.root) in [t.value for t in at.sidebar.text]


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


def _step_table(at, lang="en"):
    return next(d.value for d in at.dataframe if texts(lang)["preview.col.step"] in d.value.columns)


def test_data_page_cleans_the_sample_corpus_and_saves_it(workspace):
    at = open_page("data")
    assert not at.exception
    files = at.dataframe[0].value
    assert len(files) >= 40 and "gb18030" in set(files["Encoding"]) and "big5" in set(files["Encoding"])
    table = _step_table(at)
    dropped = dict(zip(table["Step"], table["Dropped"]))
    assert dropped["Exact duplicates"] == "exact duplicate 3" and dropped["Near duplicates"] == "near duplicate 4"

    # Toggle near dedup off: the preview follows the recipe.
    at.toggle(key="recipe.near_dedup.enabled").set_value(False).run()
    assert "Near duplicates" not in set(_step_table(at)["Step"])
    # Turn the Chinese conversion on: a traditional document now shows as changed by it.
    at.toggle(key="recipe.convert_chinese.enabled").set_value(True).run()
    table = _step_table(at)
    assert int(table.set_index("Step").loc["Traditional ⇄ simplified Chinese", "Changed"]) >= 2

    at.text_input(key="save.name").input("sample-clean").run()
    at.button(key="save.button").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "sample-clean" in at.success[0].value
    saved = workspace.datasets_dir / "sample-clean"
    report = json.loads((saved / "report.json").read_text(encoding="utf-8"))
    assert "near_dedup" not in [s["name"] for s in report["steps"]]  # near dedup stayed off
    recipe = json.loads((saved / "recipe.json").read_text(encoding="utf-8"))
    assert {s["name"]: s["enabled"] for s in recipe["steps"]}["convert_chinese"] is True
    assert "繁" not in (saved / "data.jsonl").read_text(encoding="utf-8") + (saved / "validation.jsonl").read_text(encoding="utf-8")

    # Saving again under the same name is refused with a message, and nothing is lost.
    at.button(key="save.button").click().run()
    assert "already exists" in at.error[0].value
    assert (saved / "data.jsonl").is_file()


def test_data_page_in_chinese_and_the_dataset_list(workspace):
    from core.data import dataset

    dataset.save(workspace.datasets_dir / "诗", ["床前明月光"] * 3, recipe={}, report={"chars_out": 15})
    at = open_page("data", "zh")
    assert not at.exception
    assert texts("zh")["step.near_dedup"] in set(_step_table(at, "zh")[texts("zh")["preview.col.step"]])
    assert "诗" in at.selectbox(key="datasets.open").options
    at.checkbox(key="datasets.confirm.诗").check().run()
    at.button(key="datasets.delete").click().run()
    assert not (workspace.datasets_dir / "诗").exists()


def test_data_page_shows_fields_read_boilerplate_lines_and_applies_a_preset(workspace):
    folder = workspace.root / "inbox" / "corpus"  # the folder source reads only the allowed folders
    folder.mkdir(parents=True)
    footer = "Subscribe to the Harbour Gazette for more stories"
    for i in range(6):
        (folder / f"story-{i}.txt").write_text(f"Story {i} begins on the quay and ends at sea.\n{footer}\n")
    poems = [{"title": f"第{i}首", "author": "佚名", "paragraphs": [f"第{i}首诗的第一句，", "第二句。"]} for i in range(4)]
    (folder / "poems.json").write_text(json.dumps(poems, ensure_ascii=False), encoding="utf-8")
    at = open_page("data")
    at.radio(key="data.source").set_value("folder").run()
    at.text_input(key="data.folder").input(str(folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    files = at.dataframe[0].value.set_index("File")
    assert files.loc["corpus/poems.json", "Fields read"] == "title, paragraphs"
    assert files.loc["corpus/poems.json", "First document"] == "第0首 ⏎ 第0首诗的第一句， ⏎ 第二句。"
    removed = next(d.value for d in at.dataframe if "Line" in d.value.columns)
    assert removed.to_dict("records") == [{"Line": footer, "Documents": 6}]

    at.selectbox(key="recipe.preset").set_value("verse").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.toggle(key="recipe.remove_boilerplate_lines.enabled").value is False
    assert at.number_input(key="recipe.quality_filter.min_words").value == 4
    assert not any("Line" in d.value.columns for d in at.dataframe)
    at.button(key="recipe.reset").click().run()
    assert at.toggle(key="recipe.remove_boilerplate_lines.enabled").value is True
    assert at.selectbox(key="recipe.preset").value is None


def test_data_page_folder_source_reads_only_the_allowed_folders(workspace, tmp_path):
    inbox = workspace.root.resolve() / "inbox"
    at = open_page("data")
    at.radio(key="data.source").set_value("folder").run()
    assert at.code[0].value == str(inbox)  # the allowed folders, shown as a hint
    for typed, said in [("/etc", ["outside the folders the lab may read", str(inbox), "QUILL_DATA_ROOTS"]),
                        ("nowhere", ["no such file or folder", str(inbox / "nowhere")])]:
        at.text_input(key="data.folder").input(typed).run()
        assert not at.exception and at.error[0].value == texts("en")["data.folder.refused"]
        message = at.code[1].value  # the reason, shown as text (not markdown)
        assert all(part in message for part in said), message

    (inbox / "novels").mkdir()
    (inbox / "novels" / "a.txt").write_text("A novel put in the inbox.", encoding="utf-8")
    at.text_input(key="data.folder").input("novels").run()  # relative to the inbox
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["File"]) == ["novels/a.txt"]


def _save_sample_dataset(workspace, name="sample", texts_=None):
    from core.data import dataset
    from core.data.corpus import sample_texts

    dataset.save(workspace.datasets_dir / name, texts_ or sample_texts(), recipe={}, report={"chars_out": 1})


def test_train_form_validates_in_words(workspace):
    _save_sample_dataset(workspace)
    at = open_page("train")
    assert not at.exception and not at.error
    assert not at.button(key="train.start").disabled
    assert at.number_input(key="train.batch_size").min == 1  # TrainConfig's declared limit: 0 cannot be typed
    at.number_input(key="train.learning_rate").set_value(0.0)
    at.number_input(key="train.block_size").set_value(2048).run()
    errors = " ".join(e.value for e in at.error)
    assert "Learning rate must be above 0" in errors  # the limit declared on the field, the field by its label
    assert "longer than the model's context of 512" in errors
    assert at.button(key="train.start").disabled


def test_train_form_says_a_declared_limit_in_chinese(workspace):
    """A limit declared once on TrainConfig's field comes out in the page's language, the option by its label."""
    _save_sample_dataset(workspace)
    at = open_page("train", "zh")
    at.number_input(key="train.learning_rate").set_value(0.0).run()
    assert any("学习率须大于 0" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="train.start").disabled


def test_train_presets_fill_the_form(workspace):
    _save_sample_dataset(workspace)
    at = open_page("train", "zh")
    at.selectbox(key="train.preset").set_value("gpt2_medium_24gb")
    at.button(key="train.apply").click().run()
    assert at.selectbox(key="train.model").value == "gpt2-medium"
    assert at.checkbox(key="train.gradient_checkpointing").value is True
    assert at.selectbox(key="train.dataset").value == "sample"
    assert not at.exception
    markdown = " ".join(m.value for m in at.markdown)
    assert "355M" in markdown  # the memory estimate knows gpt2-medium without downloading it


def test_train_page_warns_about_an_empty_dataset(workspace):
    from core.data import dataset

    dataset.save(workspace.datasets_dir / "tiny", ["one short text"], recipe={}, report={"chars_out": 14})
    (workspace.datasets_dir / "tiny" / "data.jsonl").write_text("")  # every document went to validation
    (workspace.datasets_dir / "tiny" / "report.json").write_text('{"split": {"train_documents": 0}}')
    at = open_page("train")
    assert any("no training documents" in e.value for e in at.error)
    assert at.button(key="train.start").disabled


def test_playground_grid_generates_and_sends_to_ratings(workspace, quick_models):
    at = open_page("playground")
    assert not at.exception
    at.slider(key="pg.columns").set_value(3)
    for i in range(3):
        at.number_input(key=f"pg.col.{i}.max_new_tokens").set_value(6)
    at.text_area(key="pg.prompts").input("The harbour")
    at.run()
    at.button(key="pg.generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    results = at.session_state["pg.results"]
    assert len(results) == 3 and {r.record.config_name for r in results} == {"greedy", "top-k 50", "top-p 0.9"}
    assert all(r.record.stats["length_tokens"] >= 1 for r in results)
    subheaders = [h.value for h in at.subheader]
    assert "starter · The harbour" in subheaders
    # The token view shows the candidates of the chosen step.
    assert any("Probability" in d.value.columns for d in at.dataframe)

    picked = results[0]
    box = f"pg.pick.{picked.record.batch}.0"
    at.checkbox(key=box).check().run()
    at.button(key="pg.send").click().run()
    assert "1 samples are in the ratings database" in at.success[0].value
    assert at.checkbox(key=box).value is False  # sent: the box is cleared
    assert at.button(key="pg.send").disabled
    from core.ratings.store import open_store

    store = open_store()
    try:
        [saved] = store.samples()
    finally:
        store.close()
    assert saved["model"] == "starter" and saved["prompt"] == "The harbour" and saved["config_name"] == "greedy"
    assert saved["settings"]["do_sample"] is False and saved["source"] == "playground"
    at.checkbox(key=box).check().run()
    at.button(key="pg.send").click().run()  # the same sample again adds nothing, and says so
    assert texts("en")["results.already_stored"].format(n=1) in [i.value for i in at.info]
    with open_store() as store:
        assert store.count_samples() == 1


@pytest.mark.slow
def test_playground_writes_what_the_real_starter_writes(workspace):
    """End to end, no stand-in: the page loads the real starter and shows the greedy continuation that the grid
    function gives for it."""
    from core.playground.grid import generate_grid
    from core.playground.sampling import DecodingConfig
    from dashboard.playground import playground_state

    playground_state.model.clear()  # a model cached by another test is not the starter from this workspace
    at = open_page("playground")
    at.slider(key="pg.columns").set_value(1)
    at.number_input(key="pg.col.0.max_new_tokens").set_value(8)
    at.text_area(key="pg.prompts").input("The harbour")
    at.run()
    at.button(key="pg.generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [shown] = at.session_state["pg.results"]
    config = DecodingConfig.from_dict(shown.record.settings)
    [expected] = generate_grid(["starter"], ["The harbour"], [config], workspace=workspace).records
    assert shown.record.config_name == "greedy" and shown.record.text == expected.text and expected.text


def test_playground_says_when_a_model_cannot_load(workspace):
    at = open_page("playground")
    at.multiselect(key="pg.models").set_value(["gpt2"])
    at.number_input(key="pg.col.0.max_new_tokens").set_value(4)
    at.run()
    at.button(key="pg.generate").click().run()
    assert not at.exception
    assert any("Cannot load 'gpt2'" in e.value and "HF_HUB_OFFLINE" in e.value for e in at.error)


def _stored_samples(count=3, prompt="The harbour"):
    from core.ratings.store import open_store

    with open_store() as store:
        return store.add_samples([
            {"model": "starter", "source": "playground", "prompt": prompt, "text": f" continuation number {i}",
             "config_name": ["greedy", "top-k 50", "top-p 0.9"][i % 3], "seed": 0, "sample_index": 0,
             "settings": {"do_sample": i > 0}}
            for i in range(count)
        ])


def test_rating_sheet_rates_revises_and_aggregates(workspace):
    ids = _stored_samples()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["rater"] = "mei"
    at.run()
    at.switch_page("../pages/ratings.py").run()
    assert not at.exception
    assert at.text_input(key="ratings.rater").value == "mei"
    first = ids[0]
    at.radio(key=f"ratings.fluency.{first}").set_value(5)
    at.radio(key=f"ratings.style.{first}").set_value(2)
    at.text_input(key=f"ratings.comment.{first}").input("nice rhythm")
    assert at.radio(key=f"ratings.coherence.{first}").value is None  # nothing preselected
    at.button[0].click()  # the form's submit button comes first on the page
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    from core.ratings.store import open_store

    with open_store() as store:
        assert store.ratings(rater="mei") == []  # Save needs every score
    missing = texts("en")["results.missing_scores"].format(criteria="Coherence, Non-repetition")
    assert [e.value for e in at.error] == [missing]
    at.radio(key=f"ratings.coherence.{first}").set_value(4)
    at.radio(key=f"ratings.repetition.{first}").set_value(3)
    at.button[0].click()
    at.run()
    with open_store() as store:
        [rating] = store.ratings(rater="mei")
        assert (rating["sample_id"], rating["fluency"], rating["style"], rating["comment"]) == (first, 5, 2, "nice rhythm")
        assert store.progress("mei") == (1, 3)
    # The next sample is on screen now; skip it, the third comes.
    at.button(key="ratings.skip").click().run()
    assert f"ratings.fluency.{ids[2]}" in [r.key for r in at.radio]
    # Results show the aggregates by setting, and how varied each setting's samples are.
    assert any(texts("en")["results.criterion"] in d.value.columns for d in at.dataframe)
    assert any(texts("en")["results.self_bleu"] in d.value.columns for d in at.dataframe)
    assert len([c for c in at.get("plotly_chart")]) >= 2  # the mean ± interval charts, by setting and by checkpoint
    assert not at.exception


def test_ratings_page_without_a_name_or_samples(workspace):
    at = open_page("ratings", "zh")
    assert not at.exception
    assert any(texts("zh")["ratings.who"] in i.value for i in at.info)


def test_rubric_is_editable_per_workspace(workspace):
    from core.ratings import rubric

    _stored_samples(1)
    at = open_page("ratings")
    at.text_input(key="ratings.rubric.style").input("Does it sound like a Song dynasty ci poem?")
    at.button(key="ratings.rubric.save").click().run()
    assert not at.exception
    assert rubric.load(workspace)["style"] == "Does it sound like a Song dynasty ci poem?"
    assert rubric.load(workspace)["fluency"] == ""
