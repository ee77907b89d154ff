"""`--out FILE` never replaces what the lab did not make (issue 20, item 1): an existing file only with --force, the
lab's own database, run and dataset files never, and the file appears whole or not at all."""

from __future__ import annotations

import pytest

from core.cli import main
from core.ratings.store import open_store
from tests.test_ratings_io import record


def _rated(workspace) -> int:
    with open_store(workspace.db_url) as store:
        (sample,) = store.add_samples([record()])
        store.rate(sample, "ann", {"fluency": 4})
        return len(store.ratings())


def _ratings(workspace) -> int:
    with open_store(workspace.db_url) as store:
        return len(store.ratings())


@pytest.mark.parametrize("action", ["export", "pairs"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_ratings_export_never_replaces_the_lab_database(workspace, capsys, force, action):
    rated = _rated(workspace)
    assert main(["ratings", action, "--out", str(workspace.db_path), *force]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out {workspace.db_path} is one of the lab's own files")
    assert _ratings(workspace) == rated  # still a database, every rating there


def test_sample_never_writes_into_a_run_or_dataset(workspace, capsys):
    run = workspace.runs_dir / "poems"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}", encoding="utf-8")
    (workspace.root / "elsewhere").mkdir()
    (workspace.root / "elsewhere" / "runs").symlink_to(run)  # a link into a run is the run
    for out in [run / "config.json", run / "new.jsonl", workspace.datasets_dir / "d" / "data.jsonl",
                workspace.root / "elsewhere" / "runs" / "config.json", workspace.root / "queue.json"]:
        assert main(["sample", "--model", "starter", "--prompt", "Hi", "--out", str(out), "--force"]) == 2
        assert "is one of the lab's own files" in capsys.readouterr().err
    assert (run / "config.json").read_text(encoding="utf-8") == "{}" and not (run / "new.jsonl").exists()


def test_an_existing_file_is_replaced_only_with_force(workspace, tmp_path, capsys):
    _rated(workspace)
    (tmp_path / "mine").mkdir()
    out = tmp_path / "mine" / "mine.csv"
    out.write_text("my own notes", encoding="utf-8")
    assert main(["ratings", "export", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: --out {out} already exists: add --force to replace it, or choose another file\n"
    assert main(["sample", "--model", "starter", "--prompt", "Hi", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "my own notes"

    assert main(["ratings", "export", "--out", str(out), "--force"]) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbfsample_id,") and out.read_bytes().count(b"\r\n") == 2
    assert [p.name for p in out.parent.iterdir()] == ["mine.csv"]  # written under a temporary name, renamed: none left

