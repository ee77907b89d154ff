"""`python -m core clean` and the Data page's Save build a dataset through one core function: the same
documents and recipe give the same dataset, byte for byte."""

from __future__ import annotations

from core.data.cleaning.recipe import Recipe
from core.data.corpus import sample_files
from tests.conftest import run_core
from tests.test_pages import open_page


def test_cli_clean_and_the_data_page_build_the_same_dataset(workspace, tmp_path):
    result = run_core(workspace, "clean", *sample_files(), "--out", tmp_path / "cli")
    assert result.returncode == 0, result.stderr

    at = open_page("data")
    at.text_input(key="save.name").input("page").run()
    at.button(key="save.button").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    page = workspace.datasets_dir / "page"
    for name in ("data.jsonl", "validation.jsonl"):
        assert (page / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    # the page's editor writes every parameter out, the CLI only the overrides: the same recipe either way
    assert _steps(page / "recipe.json") == _steps(tmp_path / "cli" / "recipe.json")


def _steps(path):
    recipe = Recipe.load(path)
    return [(step.name, step.enabled, step.arguments()) for step in recipe.steps]
