"""Parquet files and Hugging Face datasets as sources (a save_to_disk folder, a folder load_dataset reads, a hub id),
on the command line and the Data page; and a saved lab dataset read back by `datasets.load_dataset`."""

from __future__ import annotations

import json
import time

import pytest

from core.data.loading import LoadOptions, load_bytes, load_paths
from core.errors import UserError
from tests.conftest import run_core
from tests.test_pages import open_page

STORIES = [f"Story {i}: the keeper climbed the stairs and lit the lamp at dusk." for i in range(2_500)]


@pytest.fixture
def parquet_file(tmp_path):
    """2,500 rows in 5 row groups, the text under "content" beside an id column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "stories.parquet"
    pq.write_table(pa.table({"id": list(range(len(STORIES))), "content": STORIES}), path, row_group_size=500)
    assert pq.ParquetFile(path).num_row_groups == 5
    return path


@pytest.fixture
def saved_folders(tmp_path):
    """A Dataset and a DatasetDict written by save_to_disk, the text under "story"."""
    import datasets

    one = tmp_path / "saved-one"
    datasets.Dataset.from_dict({"story": ["The first tale.", "The second tale."], "n": [1, 2]}).save_to_disk(one)
    both = tmp_path / "saved-dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"story": ["A train tale."]}),
                          "test": datasets.Dataset.from_dict({"story": ["A test tale."]})}).save_to_disk(both)
    return one, both


def test_a_parquet_file_is_read_in_batches_with_its_column_chosen_like_a_json_field(parquet_file):
    options = LoadOptions(text_fields=["content"])
    for loaded in (load_paths([parquet_file], options, allowed_roots=None),
                   load_bytes("stories.parquet", parquet_file.read_bytes(), options)):
        report = loaded.files[0]
        assert report.format == "parquet" and report.fields == ["id", "content"] and report.read_fields == ["content"]
        assert list(loaded.texts) == STORIES and loaded.sources[3] == "stories.parquet#4"
    wrong = load_paths([parquet_file], LoadOptions(text_fields=["body"]), allowed_roots=None).files[0]
    assert "no field 'body' in the Parquet file: columns are id, content" in wrong.error and wrong.fields == ["id", "content"]
    broken = load_bytes("broken.parquet", b"PAR1 not really")
    assert broken.files[0].error.startswith("not a readable Parquet file")


def test_save_to_disk_folders_load_every_split(saved_folders):
    one, both = saved_folders
    loaded = load_paths([one, both], LoadOptions(text_fields=["story"]), allowed_roots=None)
    assert list(loaded.texts) == ["The first tale.", "The second tale.", "A train tale.", "A test tale."]
    assert [f.name for f in loaded.files] == ["saved-one", "saved-dict/train", "saved-dict/test"]
    assert loaded.files[0].fields == ["story", "n"] and loaded.files[0].read_fields == ["story"]


def test_a_folder_load_dataset_reads_and_a_hub_id_offline(tmp_path, monkeypatch):
    from core.data import hf_datasets

    folder = tmp_path / "json-builder"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps({"body": s}) + "\n" for s in STORIES[:3]))
    (folder / "test.jsonl").write_text(json.dumps({"body": "held out"}) + "\n")
    test = hf_datasets.load_spec(f"{folder}@test", LoadOptions(text_fields=["body"]))
    assert list(test.texts) == ["held out"] and test.files[0].read_fields == ["body"]
    assert list(load_paths([folder], LoadOptions(text_fields=["body"]), allowed_roots=None).texts) == ["held out", *STORIES[:3]]

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    started = time.perf_counter()
    with pytest.raises(UserError, match="dataset 'nobody/no-such-corpus' is not cached and HF_HUB_OFFLINE is set"):
        hf_datasets.load_spec("nobody/no-such-corpus:poems@train", LoadOptions())
    assert time.perf_counter() - started < 1.0
    # The server reads no path through a dataset id: the folder source and its roots decide that.
    with pytest.raises(UserError, match="is not cached"):
        hf_datasets.load_spec(f"{folder}@test", LoadOptions(), local=False)


def test_the_command_line_reads_parquet_saved_datasets_and_dataset_ids(tmp_path, parquet_file, saved_folders):
    one, both = saved_folders
    out = tmp_path / "out"
    done = run_core("clean", parquet_file, one, both, "--text-field", "content,story", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "2504 documents in" in done.stdout
    done = run_core("clean", "--hf-dataset", "nobody/no-such-corpus", "--out", tmp_path / "none")
    assert done.returncode != 0 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: dataset 'nobody/no-such-corpus' is not cached and HF_HUB_OFFLINE is set")


def test_a_saved_lab_dataset_loads_with_datasets_load_dataset(tmp_path):
    import datasets

    from core.data import dataset

    out = tmp_path / "mine"
    dataset.save(out, STORIES[:50], recipe={}, report={})
    loaded = datasets.load_dataset(str(out))
    assert set(loaded) == {"train", "validation"}
    assert sorted([*loaded["train"]["text"], *loaded["validation"]["text"]]) == sorted(STORIES[:50])


def test_the_data_page_reads_parquet_uploads_and_saved_datasets_in_a_folder(workspace, parquet_file, saved_folders):
    import shutil

    inbox = workspace.data_roots()[0]
    shutil.copytree(saved_folders[0], inbox / "saved-one")
    at = open_page("data")
    at.text_input(key="data.text_fields").input("content, story").run()
    at.radio(key="data.source").set_value("upload").run()
    at.file_uploader(key="data.uploads").set_value([("stories.parquet", parquet_file.read_bytes(),
                                                     "application/octet-stream")]).run()
    assert not at.exception
    files = at.dataframe[0].value
    assert list(files["Documents"]) == [2_500] and list(files["Format"]) == ["parquet"]
    at.radio(key="data.source").set_value("folder").run()
    at.text_input(key="data.folder").input("saved-one").run()
    assert not at.exception
    files = at.dataframe[0].value
    assert list(files["File"]) == ["saved-one"] and list(files["Documents"]) == [2]
    at.radio(key="data.source").set_value("hf").run()
    at.text_input(key="data.hf_dataset").input("nobody/no-such-corpus").run()
    assert not at.exception and "HF_HUB_OFFLINE" in at.code[-1].value
