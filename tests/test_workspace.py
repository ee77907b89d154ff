"""The workspace summary the Home page shows, from real files and a real SQLite database."""

import json
import os

from core.hardware import detect, format_bytes
from core.ratings.store import open_store
from core.summary import summarize
from core.workspace import Workspace


def test_empty_workspace(tmp_path):
    summary = summarize(Workspace(tmp_path / "nothing-here"))
    assert (summary.datasets, summary.runs, summary.rated_samples) == (0, 0, 0)
    assert summary.latest_dataset is None and not summary.starter_ready


def test_counts_and_latest(workspace):
    for i, name in enumerate(["poems", "news"]):
        d = workspace.datasets_dir / name
        d.mkdir(parents=True)
        (d / "data.jsonl").write_text('{"text": "x"}\n')
        os.utime(d, (1000 + i, 1000 + i))
    (workspace.datasets_dir / "half-written").mkdir()  # no data.jsonl: not a dataset
    run = workspace.runs_dir / "run-7"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "running"}))
    with open_store(f"sqlite:///{workspace.db_path}") as store:
        one, two, _ = store.add_samples([{"model": "starter", "source": "playground", "prompt": "p", "text": t}
                                         for t in ("a", "b", "c")])
        for sample, rater in [(one, "a"), (one, "b"), (two, "a")]:
            store.rate(sample, rater, {"fluency": 4})
    summary = summarize(workspace)
    assert (summary.datasets, summary.latest_dataset) == (2, "news")
    assert (summary.runs, summary.latest_run, summary.latest_run_state) == (1, "run-7", "running")
    assert summary.rated_samples == 2
    assert summary.starter_ready


def test_quill_home(monkeypatch, tmp_path):
    monkeypatch.setenv("QUILL_HOME", str(tmp_path / "elsewhere"))
    assert Workspace.from_env().root == tmp_path / "elsewhere"


def test_hardware_is_consistent():
    hw = detect()
    assert hw.cpu_cores >= 1 and 0 < hw.ram_available_bytes <= hw.ram_total_bytes
    assert (hw.accelerator == "cpu") == (not hw.gpus and not hw.mps)
    assert all(0 <= g.free_bytes <= g.total_bytes for g in hw.gpus)
    assert format_bytes(3 * 1024**3) == "3.0 GiB" and format_bytes(512) == "512 B"
