"""Saving datasets: the files, the split by document or by position, names, listing and deleting."""

import json

import pytest

from core.data import dataset
from core.errors import UserError


def test_split_by_document_is_seeded():
    texts = [f"doc {i}" for i in range(50)]
    train, validation, how = dataset.split(texts, 0.1, seed=7)
    assert how["by"] == "document" and len(validation) == 5 and len(train) == 45
    assert sorted(train + validation) == sorted(texts)
    assert dataset.split(texts, 0.1, seed=7)[1] == validation
    assert dataset.split(texts, 0.1, seed=8)[1] != validation


def test_one_novel_is_split_by_position():
    novel = "\n".join(f"Line {i} of the only novel." for i in range(1000))
    train, validation, how = dataset.split([novel], 0.1)
    assert how["by"] == "position" and len(train) == len(validation) == 1
    assert validation[0].startswith("Line ") and novel.endswith(validation[0])
    assert 0.07 < len(validation[0]) / len(novel) < 0.13


def test_save_list_open_delete(workspace):
    texts = [f"text number {i}" for i in range(20)]
    out = workspace.datasets_dir / "poems"
    summary = dataset.save(out, texts, recipe={"steps": []}, report={"docs_in": 25, "docs_out": 20, "chars_out": 10})
    assert (summary["train_documents"], summary["validation_documents"]) == (18, 2)
    assert {p.name for p in out.iterdir()} == set(dataset.FILES)  # data, validation, recipe, report, README.md
    lines = (out / "data.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(set(json.loads(line)) == {"text"} for line in lines)
    assert json.loads((out / "report.json").read_text())["split"]["by"] == "document"
    assert [d.name for d in dataset.list_datasets(workspace)] == ["poems"]
    assert dataset.resolve(workspace, "poems") == out
    with pytest.raises(UserError, match="already exists"):
        dataset.save(out, texts, recipe={}, report={})
    dataset.delete(workspace, "poems")
    assert dataset.list_datasets(workspace) == []


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 65])
def test_bad_names(name):
    with pytest.raises(UserError):
        dataset.check_name(name)


def test_chinese_names_are_fine():
    assert dataset.check_name("唐诗-v2") == "唐诗-v2"


def test_nothing_to_save(tmp_path):
    with pytest.raises(UserError, match="no documents"):
        dataset.save(tmp_path / "empty", [], recipe={}, report={})
    assert not (tmp_path / "empty").exists()
