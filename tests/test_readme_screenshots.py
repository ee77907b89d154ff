"""The README's screenshots and the script that renews them (tools/readme_screenshots.py)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

from tests.conftest import ROOT, run_core

SCRIPT = ROOT / "tools" / "readme_screenshots.py"
SHOTS = ROOT / "docs" / "screenshots"


def _script():
    """The script as a module (tools/ is no package, and no test edits sys.path)."""
    spec = importlib.util.spec_from_file_location("readme_screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_every_screenshot_and_each_is_small():
    shown = set(re.findall(r"\]\(docs/screenshots/([^)]+\.png)\)", (ROOT / "README.md").read_text(encoding="utf-8")))
    assert shown == {p.name for p in SHOTS.glob("*.png")}  # none missing, none left over from an older set
    assert {p.name: p.stat().st_size for p in SHOTS.glob("*.png") if p.stat().st_size > 300_000} == {}


def test_it_does_not_replace_a_folder_it_did_not_make(tmp_path):
    folder = tmp_path / "my-notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine", encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), "--workspace", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip() == f"error: {folder} exists and was not made by this script; name another --workspace"
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_the_scripted_ratings_import_through_the_command_line(workspace, tmp_path):
    """The rows the script writes are what `ratings import` reads; a repetitive sample scores lower."""
    script = _script()
    samples = [{"model": model, "prompt": "明月", "text": text, "config_name": name,
                "stats": {"repetition_rate": repetition}}
               for model, name, text, repetition in [("starter", "greedy", "，，，，，，", 0.9),
                                                     ("run-a/final", "top-p 0.9", "清长会北惟连留。", 0.0)]]
    rated = tmp_path / "rated.jsonl"
    rated.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in script.score_rows(samples)),
                     encoding="utf-8")
    done = run_core(workspace, "ratings", "import", rated)
    assert done.returncode == 0, done.stderr
    assert "imported 2 samples and 6 ratings" in done.stdout

    from core.ratings.store import open_store

    with open_store() as store:
        ratings = store.ratings()
    assert {r["rater"] for r in ratings} == set(script.RATERS)
    mean = {m: sum(r["repetition"] for r in ratings if r["model"] == m) / 3 for m in ("starter", "run-a/final")}
    assert mean["starter"] < mean["run-a/final"]
