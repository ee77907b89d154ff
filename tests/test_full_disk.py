"""Pages keep working on a full or read-only disk (issue 20, item 5): drafts that cannot be saved are a warning,
a lab database that cannot be opened is an error box, and a run that cannot start leaves nothing behind."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from core.data import dataset
from core.data.corpus import sample_texts
from tests.conftest import ROOT, core_env
from tests.test_pages import open_page


@pytest.mark.parametrize("page", ["data", "train", "playground"])
def test_pages_work_when_drafts_cannot_be_saved(workspace, page):
    (workspace.root / "drafts").write_text("a file where the drafts folder should be")  # every write there fails
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert any("could not be saved" in w.value for w in at.warning)


def test_ratings_page_says_when_the_database_cannot_be_opened(workspace, monkeypatch):
    (workspace.root / "blocked").write_text("not a folder")
    monkeypatch.setenv("QUILL_DB_URL", f"sqlite:///{workspace.root / 'blocked' / 'lab.sqlite'}")
    at = open_page("ratings")
    assert not at.exception, [e.value for e in at.exception]
    assert "cannot open the lab database" in at.error[0].value


def _small_files():
    resource.setrlimit(resource.RLIMIT_FSIZE, (20, 20))  # a disk that is full after 20 bytes of any file


def test_a_train_that_cannot_write_its_run_leaves_no_run_folder(workspace):
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={})
    done = subprocess.run([sys.executable, "-m", "core", "train", "--data", "sample", "--model", "starter",
                           "--max-steps", "2", "--block-size", "32", "--device", "cpu", "--name", "full"],
                          cwd=ROOT, env=core_env(QUILL_HOME=str(workspace.root)), capture_output=True, text=True,
                          timeout=300, preexec_fn=_small_files)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: cannot create the run in") and len(done.stderr.splitlines()) == 1
    assert not (workspace.runs_dir / "full").exists()
