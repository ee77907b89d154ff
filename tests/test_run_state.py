"""One run state everywhere: a run whose status.json says `running` but whose trainer is gone reads `crashed` on
Home, on the Train page and in `python -m core runs` (they all ask `runs.status`)."""

import json
import subprocess
import sys

import pytest

from core.summary import summarize
from core.train.state import RunState
from dashboard.i18n import texts
from tests.conftest import run_core
from tests.test_pages import open_page


@pytest.fixture
def dead_run(workspace):
    """A run left saying `running` by a trainer that has exited (a real process, waited for, so its pid is dead)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run = workspace.runs_dir / "dead-run"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": int(gone.stdout), "step": 3}))
    return run


def test_home_summary_reads_crashed(workspace, dead_run):
    assert summarize(workspace).latest_run_state == RunState.CRASHED


def test_home_page_says_crashed(workspace, dead_run):
    at = open_page("home")
    captions = " ".join(c.value for c in at.caption)
    assert f"dead-run ({texts('en')['state.crashed']})" in captions


def test_train_page_says_crashed(workspace, dead_run):
    at = open_page("train")
    table = next(d.value for d in at.dataframe if texts("en")["runs.col.state"] in d.value.columns)
    assert list(table[texts("en")["runs.col.state"]]) == [texts("en")["state.crashed"]]


def test_runs_command_says_crashed(workspace, dead_run):
    done = run_core(workspace, "runs")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["dead-run", "crashed"]


def test_a_run_that_ends_between_the_read_and_the_process_check_reads_as_it_ended(dead_run, monkeypatch):
    """The trainer writes `completed`, then exits: a reader that read `running` just before and finds no process just
    after (a busy machine descheduling it in between) reads the file again rather than calling the run crashed."""
    from core.train import runs

    real_alive = runs._alive

    def the_trainer_finishes_first(pid, run_dir):  # its last word lands, then the (real, dead) pid is checked
        (run_dir / "status.json").write_text(json.dumps({"state": "completed", "pid": pid, "step": 3}))
        return real_alive(pid, run_dir)

    monkeypatch.setattr(runs, "_alive", the_trainer_finishes_first)
    current = runs.status(dead_run)
    assert (current["state"], current["alive"]) == (RunState.COMPLETED, False)
    assert not current.get("error")
