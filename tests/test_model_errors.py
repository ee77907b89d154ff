"""A broken checkpoint fails the same way everywhere: `models.load` turns every load failure into one UserError,
so the command line prints one `error:` line and the Playground shows an error box, never a traceback."""

import json
import shutil

import pytest

from core import models
from core.data import corpus, dataset
from core.errors import UserError
from tests.conftest import run_core
from tests.test_pages import open_page


def _truncate_weights(final):
    weights = final / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # killed mid-copy: a header that promises more than is there


def _garble_config(final):
    (final / "config.json").write_text('{"model_type": "gpt2", "n_layer', encoding="utf-8")


@pytest.fixture(params=[_truncate_weights, _garble_config], ids=["truncated-weights", "config-not-json"])
def broken_run(request, workspace):
    """A run `thatrun` whose final model is damaged, and a dataset to evaluate it on."""
    run = workspace.runs_dir / "thatrun"
    shutil.copytree(workspace.starter_dir, run / "final")
    (run / "config.json").write_text(json.dumps({"model": "starter", "dataset": "sample"}), encoding="utf-8")
    request.param(run / "final")
    dataset.save(workspace.datasets_dir / "sample", corpus.sample_texts(), recipe={}, report={})
    return run


def test_load_says_which_model_and_what_to_do(broken_run):
    with pytest.raises(UserError, match=r"could not load model 'thatrun'.*pick another model"):
        models.load("thatrun")


def test_eval_prints_one_error_line(workspace, broken_run):
    done = run_core(workspace, "eval", "--model", "thatrun", "--data", "sample")
    assert done.returncode == 2
    assert done.stderr.startswith("error: could not load model 'thatrun'") and done.stderr.count("\n") == 1, done.stderr


def test_playground_shows_an_error_not_an_exception(workspace, broken_run):
    at = open_page("playground")
    at.multiselect(key="pg.models").set_value(["thatrun/final"])
    at.number_input(key="pg.col.0.max_new_tokens").set_value(4)
    at.run()
    at.button(key="pg.generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("thatrun/final" in e.value and "could not load" in e.value for e in at.error), [e.value for e in at.error]
