"""Sign-in through Streamlit's own authentication against a real OpenID Connect provider (oidc-provider-mock on
127.0.0.1), in a real browser: the owner has the lab, anyone else only the rating sheet, under their identity."""

from __future__ import annotations

import secrets
import threading

import oidc_provider_mock
import pytest
import werkzeug.serving

from core.ratings.store import open_store
from dashboard.i18n import texts
from dashboard.local_server import LAUNCHER, ServerDidNotStart, serving
from dashboard.navigation import PAGES
from tests.conftest import core_env, poll
from tests.test_browser import _settle, _wait_for_title, browser  # noqa: F401 (the browser fixture)

pytestmark = pytest.mark.slow  # end to end: a provider, the lab's server and Chromium

EN = texts("en")
OWNER, RATER = "owner@example.org", "rita@example.org"


@pytest.fixture
def provider():
    """The provider's base URL; any client id is accepted, and a person signs in by typing their subject."""
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def signed_in_lab(workspace, tmp_path, provider):
    """The lab as `make run` serves it, with an [auth] secrets file that points at the provider."""
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'  # Streamlit fills in the port it serves on
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "quill-lab"\nclient_secret = "not-checked-by-the-mock"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n', encoding="utf-8")
    env = core_env(QUILL_HOME=str(workspace.root), QUILL_OWNERS=OWNER)
    with open(tmp_path / "streamlit.log", "w+") as log:
        try:
            with serving(env, log, [*LAUNCHER, "--secrets.files", str(secrets_file)], timeout=90) as url:
                yield url
        except ServerDidNotStart as error:
            pytest.fail(str(error))


def _sign_in(browser, url: str, subject: str):  # noqa: F811 (the fixture's value)
    page = browser.new_context(viewport={"width": 1300, "height": 1400}).new_page()
    page.goto(url)
    _wait_for_title(page, EN["access.title"])
    page.get_by_role("button", name=EN["access.sign_in"]).click()
    page.get_by_placeholder("sub").fill(subject)  # the provider's own form
    page.get_by_role("button", name="Authorize").click()
    return page


def _score_all(page, score: int) -> bool:
    """Give every criterion `score`; True once all four show it (a redraw while clicking clears them: again)."""
    choices = [radio.locator("input[type=radio]").nth(score - 1) for radio in page.get_by_test_id("stRadio").all()]
    for radio, choice in zip(page.get_by_test_id("stRadio").all(), choices):
        if not choice.is_checked():
            radio.get_by_text(str(score), exact=True).click()
    return len(choices) == 4 and all(choice.is_checked() for choice in choices)


def test_owner_has_the_lab_and_a_rater_only_the_sheet_under_their_identity(signed_in_lab, browser, workspace):  # noqa: F811
    with open_store() as store:
        store.add_samples([{"model": "run-7/checkpoint-40", "checkpoint": str(workspace.runs_dir / "run-7"),
                            "run": "run-7", "prompt": "The harbour", "text": f" wave number {i}",
                            "config_name": "hot"} for i in range(2)])
    owner = _sign_in(browser, signed_in_lab, OWNER)
    _wait_for_title(owner, EN["home.title"])
    nav = owner.get_by_test_id("stSidebarNav")
    for name, _ in PAGES:
        nav.get_by_text(EN[f"nav.{name}"], exact=True).wait_for(timeout=60_000)
    owner.goto(f"{signed_in_lab}/train")
    _wait_for_title(owner, EN["train.title"])

    rater = _sign_in(browser, signed_in_lab, RATER)
    _wait_for_title(rater, EN["ratings.title"])
    assert rater.get_by_test_id("stSidebarNav").count() == 0  # one page: no navigation at all
    rater.get_by_text(RATER, exact=True).wait_for()
    _settle(rater)
    poll(lambda: _score_all(rater, 4), timeout=120)
    rater.get_by_role("button", name=EN["ratings.submit"]).click()
    rater.get_by_text(EN["ratings.progress"].format(rated=1, total=2)).wait_for(timeout=120_000)
    with open_store() as store:
        assert [r["rater"] for r in store.ratings()] == [RATER]  # the identity's, not typed

    # Another page's URL, or a run in the query, shows the sheet and nothing of the lab.
    for path in ("/train", "/data", "/playground?run=run-7", "/?run=run-7&rater=someone-else", "/ratings"):
        rater.goto(f"{signed_in_lab}{path}")
        rater.get_by_role("heading", level=1).filter(has_text=EN["ratings.title"]).wait_for(timeout=120_000)
        _settle(rater)  # a page that is not there says "Page not found" and runs the sheet
        shown = rater.inner_text("body")
        for secret in ("run-7", str(workspace.root), EN["train.title"], EN["data.title"], EN["ratings.tab.results"],
                       "someone-else"):
            assert secret not in shown, (path, secret)
    rater.goto(signed_in_lab)  # no "Page not found" notice over the page
    _wait_for_title(rater, EN["ratings.title"])
    rater.get_by_role("button", name=EN["access.sign_out"]).click()
    rater.get_by_role("button", name="End session").click()  # the provider's own sign-out, back to the lab
    _wait_for_title(rater, EN["access.title"])
