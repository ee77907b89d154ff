"""Damaged values do not crash listings (issue 20, item 6): a status.json pid past what the OS takes reads as
unreadable, and a NUL byte typed as a folder is refused, never saved in the shared drafts, and ignored there."""

from __future__ import annotations

import json

from core.cli import main
from core.train import runs
from core.train.state import RunState
from tests.test_pages import open_page


def _run_with_pid(workspace, pid) -> None:
    run = workspace.runs_dir / "huge-pid"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": pid}), encoding="utf-8")


def test_a_pid_past_the_os_limit_reads_as_unreadable(workspace, capsys):
    _run_with_pid(workspace, 2147483648)
    current = runs.status(workspace.runs_dir / "huge-pid")
    assert current["state"] == RunState.UNREADABLE and current["error"] == "status.json: 'pid' is 2147483648"
    assert main(["runs"]) == 0
    assert "huge-pid" in capsys.readouterr().out
    at = open_page("train")
    assert not at.exception, [e.value for e in at.exception]


def test_a_nul_byte_typed_as_the_folder_is_refused_and_not_shared(workspace):
    at = open_page("data")
    at.radio(key="data.source").set_value("folder").run()
    at.text_input(key="data.folder").input("\x00bad").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "NUL character" in " ".join(c.value for c in at.code)
    saved = (workspace.root / "drafts" / "data.json").read_text(encoding="utf-8")
    assert "\\u0000" not in saved  # the shared draft keeps the last good form
    assert not open_page("data").exception  # the next visitor's page opens


def test_a_draft_holding_a_nul_byte_is_ignored_with_a_warning(workspace):
    (workspace.root / "drafts").mkdir()
    (workspace.root / "drafts" / "data.json").write_text(json.dumps({"source": "folder", "folder": "\x00bad"}))
    at = open_page("data")
    assert not at.exception, [e.value for e in at.exception]
    assert any("NUL character" in w.value for w in at.warning)
    assert at.radio(key="data.source").value == "sample"
