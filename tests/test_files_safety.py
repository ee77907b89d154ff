"""The lab replaces only folders it made, and a save killed halfway leaves nothing that looks like a dataset."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from core.data import dataset
from core.errors import UserError
from core.summary import summarize
from tests.conftest import run_core


def refused(result, folder) -> bool:
    return result.returncode == 2 and result.stderr.splitlines() == [
        f"error: {folder} holds files the lab did not make (e.g. notes.txt); choose another folder or empty it"
    ]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("The lighthouse keeper wrote letters to the sea every night.\n"
                    "Nobody answered them, and he kept them in a tin box by the lamp.\n"
                    "One winter a ship brought a reply, in a hand he knew from long ago.\n", encoding="utf-8")
    return path


def user_folder(path):
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("my notes", encoding="utf-8")
    return path


def test_starter_out_onto_a_folder_of_the_users_refuses_and_keeps_it(tmp_path, starter_dir):
    mine = user_folder(tmp_path / "mine")
    assert refused(run_core("starter", "--out", str(mine)), mine)
    assert refused(run_core("starter", "--out", str(mine), "--force"), mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "my notes"

    # a starter the user put a file into is theirs too now
    shutil.copytree(starter_dir, tmp_path / "starter")
    (tmp_path / "starter" / "notes.txt").write_text("my notes", encoding="utf-8")
    assert refused(run_core("starter", "--out", str(tmp_path / "starter"), "--force"), tmp_path / "starter")
    assert (tmp_path / "starter" / "notes.txt").read_text() == "my notes"


def test_starter_force_replaces_a_previous_starter(tmp_path, starter_dir):
    out = tmp_path / "starter"
    shutil.copytree(starter_dir, out)
    (out / "model.safetensors").write_bytes(b"an older build")
    result = run_core("starter", "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert (out / "model.safetensors").read_bytes() == (starter_dir / "model.safetensors").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["starter"]  # no staging folder left behind


def test_clean_overwrite_onto_a_folder_of_the_users_refuses_and_keeps_it(tmp_path, corpus):
    mine = user_folder(tmp_path / "mine")
    assert refused(run_core("clean", str(corpus), "--out", str(mine), "--overwrite"), mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "my notes"

    # only data.jsonl is not a dataset either: it may be the user's own
    (mine / "notes.txt").unlink()
    (mine / "data.jsonl").write_text('{"text": "mine"}\n', encoding="utf-8")
    assert run_core("clean", str(corpus), "--out", str(mine), "--overwrite").returncode == 2
    assert (mine / "data.jsonl").read_text() == '{"text": "mine"}\n'


def test_clean_overwrite_replaces_a_previous_dataset_but_not_one_holding_a_user_file(tmp_path, corpus):
    out = tmp_path / "ds"
    assert run_core("clean", str(corpus), "--out", str(out)).returncode == 0
    (out / "data.jsonl").write_text('{"text": "an older save"}\n', encoding="utf-8")
    result = run_core("clean", str(corpus), "--out", str(out), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert "lighthouse" in (out / "data.jsonl").read_text(encoding="utf-8") + (out / "validation.jsonl").read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    (out / "notes.txt").write_text("my notes", encoding="utf-8")
    assert refused(run_core("clean", str(corpus), "--out", str(out), "--overwrite"), out)
    assert (out / "notes.txt").read_text() == "my notes"


def test_an_empty_folder_is_filled_and_a_file_is_never_replaced(tmp_path):
    for name, overwrite in (("empty", False), ("empty too", True)):
        (tmp_path / name).mkdir()
        dataset.save(tmp_path / name, ["one text", "another"], recipe={}, report={}, overwrite=overwrite)
        assert (tmp_path / name / "data.jsonl").is_file()
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    with pytest.raises(UserError, match="not a folder the lab made"):
        dataset.save(tmp_path / "file", ["one text"], recipe={}, report={}, overwrite=True)
    assert (tmp_path / "file").read_text() == "mine"


def test_a_save_killed_halfway_shows_nothing_and_the_next_save_clears_it(workspace, corpus):
    out = workspace.datasets_dir / "poems"
    killed = run_core("clean", str(corpus), "--out", str(out), QUILL_FAULT="kill-during-save")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [staging] = workspace.datasets_dir.iterdir()  # what the killed writer left: a hidden folder, half written
    assert staging.name.startswith(".poems.") and (staging / "data.jsonl").is_file()
    assert not (staging / "report.json").exists()

    assert dataset.list_datasets(workspace) == [] and summarize(workspace).datasets == 0
    with pytest.raises(UserError, match="no dataset"):
        dataset.resolve(workspace, staging.name)

    # a save in progress in a live process (this one) is left alone; the dead writer's folder goes
    live = workspace.datasets_dir / f".novels.staging-{os.getpid()}-x1"
    live.mkdir()
    saved = run_core("clean", str(corpus), "--out", str(out))
    assert saved.returncode == 0, saved.stderr
    assert sorted(p.name for p in workspace.datasets_dir.iterdir()) == [live.name, "poems"]
    assert [d.name for d in dataset.list_datasets(workspace)] == ["poems"]


def test_atomic_text_write_uses_a_temp_name_of_its_own(tmp_path):
    from core.files import write_text_atomic

    target = tmp_path / "metrics.jsonl"
    target.write_text("old\n")
    other = tmp_path / ".metrics.jsonl.tmp"  # the fixed temp name the trainer used to write through
    other.write_text("another writer's half-written file")
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n" and other.read_text() == "another writer's half-written file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".metrics.jsonl.tmp", "metrics.jsonl"]
