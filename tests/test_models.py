"""Model names resolve without the network; an unreachable hub fails fast with what to do."""

import http.server
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from core import models
from core.errors import UserError
from tests.conftest import ROOT, core_env


def test_starter_by_name(workspace):
    source = models.resolve("starter")
    assert source.kind == "starter" and source.location == str(workspace.starter_dir)
    tokenizer, model = models.load("starter")
    assert tokenizer.pad_token == tokenizer.eos_token
    assert not model.training


def test_missing_starter_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("QUILL_HOME", str(tmp_path))
    with pytest.raises(UserError, match="python -m core starter"):
        models.resolve("starter")


def test_run_checkpoints_resolve_to_the_latest(workspace):
    run = workspace.runs_dir / "run-1"
    for name in ["checkpoint-5", "checkpoint-20", "checkpoint-10"]:
        shutil.copytree(workspace.starter_dir, run / name)
        for state in ["optimizer.pt", "scheduler.pt"]:  # what makes a checkpoint complete (see runs.checkpoint_problem)
            (run / name / state).write_bytes(b"state")
        (run / name / "trainer_state.json").write_text(f'{{"global_step": {name.split("-")[1]}}}')
    (run / "config.json").write_text('{"model": "starter"}')  # the run's training config, not a model
    assert models.resolve("run-1").location.endswith("checkpoint-20")
    assert models.resolve("run-1/checkpoint-5").location.endswith("checkpoint-5")
    shutil.copytree(workspace.starter_dir, run / "final")
    assert models.resolve("run-1").location.endswith("final")
    assert models.local_models() == ["starter", "run-1/final", "run-1/checkpoint-20", "run-1/checkpoint-10",
                                     "run-1/checkpoint-5"]


def test_local_directory_and_bad_names(workspace, tmp_path):
    assert models.resolve(str(workspace.starter_dir)).kind == "local"
    with pytest.raises(UserError, match="no such model directory"):
        models.resolve("./not/here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no model"):
        models.resolve(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="not a model name"):
        models.resolve("what is this?")
    assert models.resolve("uer/gpt2-chinese-cluecorpussmall").kind == "hub"


def test_cached_hub_model_loads_offline(workspace, tmp_path, monkeypatch):
    """A model once downloaded loads from the Hugging Face cache with no network at all."""
    snapshot = tmp_path / "hf" / "hub" / "models--quill--tiny" / "snapshots" / "0123abcd"
    shutil.copytree(workspace.starter_dir, snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    assert models.ensure_available(models.resolve("quill/tiny")) == {"local_files_only": True}
    tokenizer, model = models.load("quill/tiny")
    assert model.config.model_type == "gpt2"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def _load_in_subprocess(tmp_path, **env):
    result = subprocess.run(
        [sys.executable, "-m", "core", "model", "gpt2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=core_env(HF_HOME=str(tmp_path / "empty-cache"), **env),
    )
    return result, None


def test_unreachable_hub_fails_fast_with_advice(tmp_path):
    result, _ = _load_in_subprocess(tmp_path, HF_HUB_OFFLINE=None, HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "cannot be reached" in lines[0] and "starter" in lines[0]


def test_a_hub_that_drops_connections_is_asked_once_not_retried(tmp_path):
    """"Fails fast" without a clock: a hub that accepts and hangs up is asked once, not in a minute of retries."""
    import threading

    server, attempts = socket.socket(), []
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            attempts.append(1)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        result, _ = _load_in_subprocess(tmp_path, HF_HUB_OFFLINE=None,
                                        HF_ENDPOINT=f"http://127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()
    assert result.returncode != 0 and result.stderr.startswith("error:"), result.stderr
    assert len(attempts) == 1, f"the hub was asked {len(attempts)} times"


def test_offline_mode_says_so(tmp_path):
    result, _ = _load_in_subprocess(tmp_path, HF_HUB_OFFLINE="1")
    assert result.returncode != 0 and "HF_HUB_OFFLINE" in result.stderr and "Traceback" not in result.stderr


def test_unknown_hub_model_is_named(tmp_path):
    """A hub (here a local stand-in) that answers 404 means the name is wrong, not the network."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result, _ = _load_in_subprocess(tmp_path, HF_HUB_OFFLINE=None, HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert result.returncode != 0 and "there is no model 'gpt2'" in result.stderr
