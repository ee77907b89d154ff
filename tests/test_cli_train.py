"""`python -m core train | runs | stop | resume` on the command line, the same code path as the page."""

import json

from tests.conftest import run_core


def test_train_waits_and_runs_lists_it(trained_run):
    result = trained_run.command  # `python -m core train ... --name shared`, without --learning-rate
    assert result.returncode == 0, result.stderr
    assert "validation loss" in result.stdout and "completed" in result.stdout
    listed = json.loads(run_core(trained_run.workspace, "runs", "--json").stdout)
    assert [(r["id"], r["state"]) for r in listed] == [("shared", "completed")]
    config = json.loads((trained_run.run_dir / "config.json").read_text())
    assert config["learning_rate"] is None  # the worker picks the starter's own default


def test_bad_input_is_one_error_line(workspace):
    for args in [("train", "--model", "starter"), ("train", "--data", "nope"), ("stop", "no-such-run"),
                 ("resume", "no-such-run"), ("train", "--data", "x", "--batch-size", "0")]:
        result = run_core(workspace, *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
