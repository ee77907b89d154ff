"""Raters' access without a sign-in provider: invitation codes (hashed, revocable), the rater-only mode, the
launcher's refusal of an open bind, per-rater progress and agreement, and exclusion from the aggregates."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from core.ratings import aggregates, raters
from core.ratings.store import open_store
from core.workspace import Workspace
from dashboard.i18n import texts
from tests.conftest import ROOT, core_env, run_core

APP = str(ROOT / "dashboard" / "app.py")
EN = texts("en")
REFUSED = "this invitation code is not valid (or was revoked); ask the lab's owner for a new one"


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Workspace:
    """A workspace with only a lab database (no starter: nothing here loads a model), and three samples."""
    monkeypatch.setenv("QUILL_HOME", str(tmp_path / "workspace"))
    monkeypatch.delenv("QUILL_DB_URL", raising=False)
    with open_store() as store:
        store.add_samples([{"model": "run-7/checkpoint-40", "checkpoint": "/secret/runs/run-7/checkpoint-40",
                            "run": "run-7", "prompt": "The harbour", "text": f" wave number {i}",
                            "config_name": "hot", "seed": i, "sample_index": 0} for i in range(3)])
    return Workspace.from_env()


def test_a_code_signs_in_until_it_is_revoked_and_only_its_hash_is_stored(lab):
    with open_store() as store:
        code = raters.invite(store, "Ann")
        assert raters.sign_in(store, code).name == "Ann"
        for wrong in (code + "x", "", "7", f"{code.split('-')[0]}-nope", "abc-def"):
            with pytest.raises(Exception, match="not valid"):
                raters.sign_in(store, wrong)
        raters.revoke(store, "Ann")
        with pytest.raises(Exception, match="revoked"):
            raters.sign_in(store, code)
        again = raters.invite(store, "Ann")  # a new code lifts the revocation; the old one stays dead
        assert raters.sign_in(store, again).name == "Ann"
        with pytest.raises(Exception, match="not valid"):
            raters.sign_in(store, code)
    stored = sqlite3.connect(lab.db_path).execute("SELECT name, code_hash FROM raters").fetchall()
    assert stored[0][0] == "Ann" and stored[0][1].startswith("scrypt$")
    assert again.split("-", 1)[1] not in stored[0][1]


def test_the_cli_invites_revokes_and_says_so_in_one_line(lab):
    invited = run_core(lab, "raters", "invite", "Bo")
    assert invited.returncode == 0, invited.stderr
    code = invited.stdout.strip().rsplit(" ", 1)[1]
    with open_store() as store:
        assert raters.sign_in(store, code).name == "Bo"
    assert run_core(lab, "raters", "revoke", "Bo").returncode == 0
    listed = run_core(lab, "raters", "list")
    assert listed.stdout.split() == ["Bo", "revoked"]
    missing = run_core(lab, "raters", "revoke", "nobody")
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines() == ["error: no rater named 'nobody'; `python -m core raters list` shows them"]


def _rate_mode(monkeypatch) -> AppTest:
    monkeypatch.setenv("QUILL_MODE", "rate")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def test_rater_only_mode_serves_the_sheet_to_a_valid_code_and_nothing_else(lab, monkeypatch):
    with open_store() as store:
        code = raters.invite(store, "Cleo")
    at = _rate_mode(monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == EN["access.title"]
    at.text_input(key="access.code").input("1-guessed").run()
    at.button[0].click().run()
    assert [e.value for e in at.error] == [REFUSED]
    at.text_input(key="access.code").input(code)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == EN["ratings.title"]
    assert [t.value for t in at.sidebar.text] == ["Cleo"]  # the name is the invitation's, not typed
    shown = " ".join([t.value for t in at.text] + [m.value for m in at.markdown] + [c.value for c in at.caption])
    assert "run-7" not in shown and "secret" not in shown and str(lab.root) not in shown  # blind, no workspace
    # Other pages do not exist in this session.
    with pytest.raises(ValueError, match=r"Known pages: \['[^,]*pages/rate.py'\]"):
        at.switch_page("../pages/train.py")
    # A score carries the invitation's name.
    sample = [r.key for r in at.radio][0].rsplit(".", 1)[1]
    for criterion in ("fluency", "coherence", "style", "repetition"):
        at.radio(key=f"ratings.{criterion}.{sample}").set_value(4)
    at.button[0].click().run()
    with open_store() as store:
        assert [r["rater"] for r in store.ratings()] == ["Cleo"]
    at.sidebar.button(key="access.sign_out").click().run()
    assert at.title[0].value == EN["access.title"]
    at.text_input(key="access.code").input(code)
    at.button[0].click().run()
    assert at.title[0].value == EN["ratings.title"]
    with open_store() as store:
        raters.revoke(store, "Cleo")
    at.run()  # the next click after a revocation is the sign-in page again
    assert at.title[0].value == EN["access.title"]
    at.text_input(key="access.code").input(code)
    at.button[0].click().run()
    assert at.title[0].value == EN["access.title"]
    assert [e.value for e in at.error] == [REFUSED]


def test_alpha_per_rater_finds_the_contrary_rater_and_exclusion_leaves_scores(lab):
    with open_store() as store:
        ids = [s["id"] for s in store.samples()]
        agreed = {ids[0]: 5, ids[1]: 3, ids[2]: 1}
        for rater in ("ann", "bo"):
            for sample_id, score in agreed.items():
                store.rate(sample_id, rater, {c: score for c in ("fluency", "coherence", "style", "repetition")})
        for sample_id, score in agreed.items():
            store.rate(sample_id, "zed", {c: 6 - score for c in ("fluency", "coherence", "style", "repetition")})
        alphas = aggregates.alpha_per_rater(store.ratings())
        assert alphas["zed"] < 0 < alphas["ann"] and alphas["ann"] == alphas["bo"]
        progress = aggregates.rater_progress("zed", store.ratings(), store.comparisons())
        assert (progress["rated"], progress["votes"]) == (3, 0) and progress["first"] <= progress["last"]
        raters.set_excluded(store, "zed", True)
        assert raters.excluded(store) == {"zed"}
        assert len(store.ratings(rater="zed")) == 3  # kept, only left out of the aggregates


def test_owner_sees_raters_and_excludes_one_from_the_aggregates(lab):
    with open_store() as store:
        ids = [s["id"] for s in store.samples()]
        for rater, score in (("ann", 5), ("zed", 1)):
            store.rate(ids[0], rater, {c: score for c in ("fluency", "coherence", "style", "repetition")})
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("../pages/ratings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    [table] = [d.value for d in at.dataframe if EN["raters.alpha"] in d.value.columns]
    assert list(table[EN["raters.name"]]) == ["ann", "zed"] and list(table[EN["raters.rated"]]) == [1, 1]
    means = [d.value for d in at.dataframe if EN["results.mean"] in d.value.columns][0][EN["results.mean"]]
    assert set(means) == {3.0}
    at.multiselect(key="raters.excluded").select("zed").run()
    with open_store() as store:
        assert raters.excluded(store) == {"zed"}
    means = [d.value for d in at.dataframe if EN["results.mean"] in d.value.columns][0][EN["results.mean"]]
    assert set(means) == {5.0}


def _launch(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in core_env().items() if k not in ("QUILL_ALLOW_OPEN", "QUILL_MODE", "QUILL_OWNERS")}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_the_server_refuses_a_non_loopback_bind_without_sign_in(tmp_path):
    refused = _launch("--server.address", "0.0.0.0", "--secrets.files", str(tmp_path / "none.toml"))
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: refusing to serve the whole lab on 0.0.0.0 without sign-in") and "QUILL_ALLOW_OPEN=1" in line


def test_the_explicit_flag_or_the_rater_only_mode_allow_an_open_bind(monkeypatch):
    from core.errors import UserError
    from dashboard import serving_guard

    for name in ("QUILL_ALLOW_OPEN", "QUILL_MODE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserError):
        serving_guard.refuse_open_bind("192.168.1.20", signed_in=False)
    serving_guard.refuse_open_bind("::1", signed_in=False)
    serving_guard.refuse_open_bind("192.168.1.20", signed_in=True)
    monkeypatch.setenv("QUILL_MODE", "rate")
    serving_guard.refuse_open_bind("0.0.0.0", signed_in=False)
    monkeypatch.setenv("QUILL_MODE", "lab")
    monkeypatch.setenv("QUILL_ALLOW_OPEN", "1")
    serving_guard.refuse_open_bind("0.0.0.0", signed_in=False)
    monkeypatch.setenv("QUILL_MODE", "raters")
    with pytest.raises(UserError, match="QUILL_MODE='raters' is not a mode; use one of lab, rate"):
        serving_guard.check(["--secrets.files", "/nonexistent/secrets.toml"])


def test_allow_open_warns_on_every_owner_page(lab, monkeypatch):
    from streamlit import config

    monkeypatch.setenv("QUILL_ALLOW_OPEN", "1")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()  # served on .streamlit/config.toml's 127.0.0.1: nothing to warn about
    assert EN["access.open_warning"] not in [w.value for w in at.warning]
    address = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")  # as `--server.address 0.0.0.0` sets it
    try:
        at.run()
        assert EN["access.open_warning"] in [w.value for w in at.warning]
        at.switch_page("../pages/ratings.py").run()
        assert EN["access.open_warning"] in [w.value for w in at.warning]
    finally:
        config.set_option("server.address", address)


def test_bad_sign_in_configuration_is_one_line(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n', encoding="utf-8")
    missing = _launch("--secrets.files", str(secrets))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "error: the [auth] section of .streamlit/secrets.toml lacks cookie_secret, client_id, client_secret, "
        "server_metadata_url; see the README's \"Raters' access\" for an example"]
    port = closed_port()
    secrets.write_text(
        '[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\ncookie_secret = "s"\n'
        f'client_id = "lab"\nclient_secret = "x"\nserver_metadata_url = "http://127.0.0.1:{port}/.well-known/'
        'openid-configuration"\n', encoding="utf-8")
    unreachable = _launch("--secrets.files", str(secrets), QUILL_OWNERS="me@example.org")
    assert unreachable.returncode == 2
    [line] = unreachable.stderr.strip().splitlines()
    assert line.startswith(f"error: the sign-in provider at http://127.0.0.1:{port}/") and "cannot be reached" in line
    secrets.write_text("[auth\n", encoding="utf-8")
    broken = _launch("--secrets.files", str(secrets))
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) == 1


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _invited(monkeypatch, name: str) -> AppTest:
    """A rater signed in with a fresh invitation code in the rater-only mode."""
    with open_store() as store:
        code = raters.invite(store, name)
    at = _rate_mode(monkeypatch)
    at.text_input(key="access.code").input(code)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_raters_get_no_write_page_unless_the_owner_chose_models(workspace, monkeypatch):
    monkeypatch.delenv("QUILL_RATER_WRITE_MODELS", raising=False)
    at = _invited(monkeypatch, "Cleo")
    with pytest.raises(ValueError, match=r"Known pages: \['[^,]*pages/rate.py'\]"):
        at.switch_page("../pages/write.py")


def test_a_rater_writes_only_with_the_chosen_models_under_the_invited_name(workspace, quick_models, monkeypatch):
    from core.ratings import choices
    from core.write import drafts, suggest

    monkeypatch.setattr(suggest, "LENGTHS", {"line": 6, "paragraph": 10})
    monkeypatch.setenv("QUILL_RATER_WRITE_MODELS", "starter, distilgpt2")
    at = _invited(monkeypatch, "Cleo")
    at.query_params.update({"writer": "Mallory", "model": "gpt2"})  # neither a name nor a model comes from the URL
    at.session_state["write.model"] = "gpt2"  # another model is not an option, whatever the session holds
    at.switch_page("../pages/write.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == EN["write.title"]
    assert not [w for w in at.text_input if w.key == "write.writer"]  # the name is the invitation's, not typed
    at.text_input(key="write.new_name").set_value("poem").run()
    at.button(key="write.new").click().run()
    picker = at.selectbox(key="write.model")
    assert picker.options == ["starter", "distilgpt2"] and picker.value == "starter"
    assert not picker.proto.accept_new_options  # no typed model names
    at.text_area(key="write.text").set_value("The king said").run()
    at.button(key="write.suggest_line").click().run()
    at.button(key="write.accept.0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with open_store() as store:
        [choice] = choices.list_choices(store)
    assert (choice.writer, choice.model, choice.action) == ("Cleo", "starter", "accept")
    shown = " ".join([t.value for t in at.text] + [m.value for m in at.markdown] + [c.value for c in at.caption]
                     + [" ".join(map(str, d.value.columns)) for d in at.dataframe])
    assert str(workspace.root) not in shown and EN["write.checkpoint"] not in shown  # no server paths
    # The draft is Cleo's alone: not among the owner's drafts, and another rater starts with none.
    assert drafts.names(workspace) == [] and drafts.names(drafts.rater_home(workspace, "Cleo")) == ["poem"]
    other = _invited(monkeypatch, "Dan")
    other.switch_page("../pages/write.py").run()
    assert [i.value for i in other.info] == [EN["write.no_drafts"]]
