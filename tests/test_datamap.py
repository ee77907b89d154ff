"""The data map: each document's bits per character under a trained model ranks planted mojibake and foreign text
worst; excluding them saves the dataset again with the exclusion in its recipe."""

from __future__ import annotations

import json

import pytest

from core.data import dataset
from core.data.cleaning.pipeline import clean
from core.data.cleaning.recipe import Recipe
from core.data.cleaning.steps import document_key
from core.data.corpus import sample_texts
from core.evaluation import document_loss
from core.workspace import Workspace

FRENCH = ("Le café était déjà froid quand Hélène revint de l'école; elle s'assit près de la fenêtre et regarda "
          "les élèves traverser la place. « Où êtes-vous allés cet été ? » demanda sa sœur.")
PLANTED = [
    FRENCH.encode("utf-8").decode("cp1252", errors="replace"),  # mojibake: UTF-8 read as Windows-1252
    "Съешь же ещё этих мягких французских булок, да выпей же чаю. Широкая электрификация южных губерний даст "
    "мощный толчок подъёму сельского хозяйства.",  # another language, another script
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Γαζέες καὶ μυρτιὲς δὲν θὰ βρῶ πιὰ στὸ χρυσαφὶ ξέφωτο.",
]


def english_part() -> list[str]:
    """The sample corpus's English documents: what the shared run was trained on, among the rest."""
    return [t for t in sample_texts() if sum(c.isascii() for c in t) > 0.97 * len(t) and len(t) > 200]


@pytest.fixture
def mixed(tmp_path, monkeypatch, trained_run):
    root = tmp_path / "workspace"
    monkeypatch.setenv("QUILL_HOME", str(root))
    workspace = Workspace(root)
    assert len(english_part()) >= 10
    recipe = Recipe.default()
    recipe.step("fix_mojibake").enabled = False  # a user's recipe that lets the mojibake through
    raw = english_part() + PLANTED
    cleaned = clean(recipe, raw)
    planted = [text for i, text in zip(cleaned.kept, cleaned.texts) if raw[i] in PLANTED]
    assert len(planted) == len(PLANTED)  # as cleaned (its copies and its spam page are dropped from the rest)
    dataset.save(workspace.datasets_dir / "mixed", cleaned.texts, recipe=recipe.to_dict(), report={})
    return workspace, str(trained_run.run_dir / "final"), cleaned.texts, {document_key(text) for text in planted}


def test_the_data_map_ranks_planted_mojibake_and_foreign_text_worst(mixed):
    workspace, model, saved, planted = mixed
    result = document_loss.compute("mixed", model, workspace)
    rows = document_loss.worst_first(result)
    assert len(rows) == len(saved)
    assert {row["key"] for row in rows[:len(PLANTED)]} == planted
    assert all(row["bits_per_char"] > 0 and row["tokens"] > 0 for row in rows)
    cached = document_loss.read_map(document_loss.map_path(workspace.datasets_dir / "mixed", model, workspace))
    assert cached == json.loads(json.dumps(result))

    summary = document_loss.exclude("mixed", [row["key"] for row in rows[:len(PLANTED)]], "mixed-kept", workspace)
    kept = workspace.datasets_dir / "mixed-kept"
    texts = dataset.read_texts(kept) + dataset.read_texts(kept, "validation")
    assert summary["train_documents"] + summary["validation_documents"] == len(saved) - len(PLANTED)
    assert not planted & {document_key(text) for text in texts}
    recipe = Recipe.load(kept / "recipe.json")
    assert recipe.step("exclude_documents").enabled and not recipe.step("fix_mojibake").enabled
    again = clean(recipe, english_part() + PLANTED)  # the same files cleaned again with it: they stay out
    assert sorted(again.texts) == sorted(texts) and list(again.dropped.values()).count("excluded") == len(PLANTED)


@pytest.mark.slow
def test_the_data_page_computes_the_map_in_the_background_and_saves_without_the_worst(workspace):
    from tests.conftest import poll
    from tests.test_pages import open_page

    dataset.save(workspace.datasets_dir / "mixed", english_part()[:9] + PLANTED, recipe={}, report={})
    at = open_page("data")
    at.selectbox(key="datamap.model").set_value("starter").run()
    at.button(key="datamap.start").click().run()
    assert not at.exception

    def mapped():
        at.run()
        return any("Bits per character" in d.value.columns for d in at.dataframe)

    poll(mapped, timeout=400, every=2)
    table = next(d.value for d in at.dataframe if "Bits per character" in d.value.columns)
    assert len(table) == 12 and list(table["Bits per character"]) == sorted(table["Bits per character"], reverse=True)
    assert at.expander and not at.exception
    path = document_loss.map_path(workspace.datasets_dir / "mixed", "starter", workspace)
    worst = [row["key"] for row in document_loss.worst_first(document_loss.read_map(path))[:2]]
    at.multiselect(key="datamap.exclude").set_value(worst).run()
    at.button(key="datamap.save").click().run()
    assert not at.exception and "Saved 'mixed-mapped': 10 documents, 2 excluded" in at.success[-1].value
    assert Recipe.load(workspace.datasets_dir / "mixed-mapped" / "recipe.json").step("exclude_documents").enabled
