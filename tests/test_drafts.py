"""Work survives navigation and reload (issue 12, item 1): forms keep their drafts across page switches in a
session, and a new session (a reload) restores them from <workspace>/drafts/."""

import json

from tests.test_pages import _save_sample_dataset, open_page


def _visit(at, page: str):
    at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_data_recipe_and_options_survive_a_page_switch_and_a_reload(workspace):
    at = open_page("data")
    at.toggle(key="recipe.convert_chinese.enabled").set_value(True).run()
    at.selectbox(key="recipe.convert_chinese.direction").set_value("s2t")
    at.selectbox(key="data.txt_split").set_value("paragraphs").run()
    _visit(at, "home")
    _visit(at, "data")
    assert at.toggle(key="recipe.convert_chinese.enabled").value is True
    assert at.selectbox(key="recipe.convert_chinese.direction").value == "s2t"
    assert at.selectbox(key="data.txt_split").value == "paragraphs"
    saved = json.loads((workspace.root / "drafts" / "data.json").read_text(encoding="utf-8"))
    assert saved["txt_split"] == "paragraphs"

    reloaded = open_page("data")  # a new session: only the workspace's draft remembers
    assert reloaded.toggle(key="recipe.convert_chinese.enabled").value is True
    assert reloaded.selectbox(key="recipe.convert_chinese.direction").value == "s2t"
    reloaded.button(key="data.reset").click().run()
    assert reloaded.toggle(key="recipe.convert_chinese.enabled").value is False
    assert reloaded.selectbox(key="data.txt_split").value == "whole"
    assert not (workspace.root / "drafts" / "data.json").exists() or \
        json.loads((workspace.root / "drafts" / "data.json").read_text())["txt_split"] == "whole"


def test_train_form_survives_a_page_switch_and_a_reload(workspace):
    _save_sample_dataset(workspace)
    at = open_page("train")
    at.number_input(key="train.max_steps").set_value(123)
    at.text_area(key="train.gallery_prompts").input("Once upon a time").run()
    _visit(at, "playground")
    _visit(at, "train")
    assert at.number_input(key="train.max_steps").value == 123
    assert at.text_area(key="train.gallery_prompts").value == "Once upon a time"

    reloaded = open_page("train")
    assert reloaded.number_input(key="train.max_steps").value == 123
    assert reloaded.text_area(key="train.gallery_prompts").value == "Once upon a time"
    reloaded.button(key="train.reset").click().run()
    assert reloaded.number_input(key="train.max_steps").value != 123
    assert "Once upon a time" not in reloaded.text_area(key="train.gallery_prompts").value


def test_playground_prompts_models_and_columns_survive_a_page_switch_and_a_reload(workspace):
    at = open_page("playground")
    at.text_area(key="pg.prompts").input("The harbour at dawn")
    at.multiselect(key="pg.models").set_value(["starter", "gpt2"])
    at.slider(key="pg.columns").set_value(2)
    at.text_input(key="pg.col.1.name").input("warm").run()
    _visit(at, "ratings")
    _visit(at, "playground")
    assert at.text_area(key="pg.prompts").value == "The harbour at dawn"
    assert at.multiselect(key="pg.models").value == ["starter", "gpt2"]
    assert at.slider(key="pg.columns").value == 2
    assert at.text_input(key="pg.col.1.name").value == "warm"

    reloaded = open_page("playground")
    assert reloaded.text_area(key="pg.prompts").value == "The harbour at dawn"
    assert reloaded.slider(key="pg.columns").value == 2
    assert reloaded.text_input(key="pg.col.1.name").value == "warm"
    reloaded.button(key="pg.reset").click().run()
    assert reloaded.slider(key="pg.columns").value == 4
    assert reloaded.multiselect(key="pg.models").value == ["starter"]
