"""The real app in a real browser: `python -m dashboard` (streamlit run) on a free port, pages in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from dashboard.i18n import texts
from dashboard.local_server import LAUNCHER, ServerDidNotStart, serving
from dashboard.navigation import PAGES
from tests.conftest import SHARED, core_env, poll, require

pytestmark = pytest.mark.slow  # end to end: real processes and models

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _serve(workspace, tmp_path, command: list[str]):
    """The lab run by `command` (its options follow) on a free port; yields its URL once it answers."""
    with open(tmp_path / "streamlit.log", "w+") as log:
        try:
            with serving(core_env(QUILL_HOME=str(workspace.root)), log, command, timeout=90) as url:
                yield url
        except ServerDidNotStart as error:
            pytest.fail(str(error))


@pytest.fixture
def app_url(workspace, tmp_path):
    """The lab as `make run` serves it: `python -m dashboard`, everything imported before it listens."""
    yield from _serve(workspace, tmp_path, LAUNCHER)


@pytest.fixture
def streamlit_run_url(workspace, tmp_path):
    """The lab under a plain `streamlit run dashboard/app.py`: torch and transformers import in warm_imports'
    background thread while the first pages are drawn, the path of the import race."""
    yield from _serve(workspace, tmp_path, ["-m", "streamlit", "run", "dashboard/app.py"])


@pytest.fixture
def cpu_hog():
    """Two busy loops for the whole test: the page races showed up only on a busy machine."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


# Counts, in the page, the script runs it asks the server for (BackMsg.rerun_script, field 11) and marks them answered
# when a run finishes (ForwardMsg.script_finished, field 6, other than FINISHED_EARLY_FOR_RERUN = 2), reading the
# top-level fields of the websocket's protobuf messages. A test then waits for the run its own click asked for,
# not for a clock: on a busy machine a rerun can begin a second after the click, and a fast one is over before the
# page ever shows "running".
COUNT_RUNS = """
(() => {
    const fields = bytes => {  // [field number, varint value or null] of a protobuf message's top level
        const out = [];
        let i = 0;
        const varint = () => { let v = 0, scale = 1, b; do { b = bytes[i++]; v += (b & 127) * scale; scale *= 128; } while (b & 128); return v; };
        while (i < bytes.length) {
            const key = varint(), wire = key % 8, field = Math.floor(key / 8);
            if (wire === 0) out.push([field, varint()]);
            else if (wire === 2) { const n = varint(); i += n; out.push([field, null]); }
            else if (wire === 1 || wire === 5) { i += wire === 1 ? 8 : 4; out.push([field, null]); }
            else break;
        }
        return out;
    };
    const bytesOf = data => data instanceof ArrayBuffer ? new Uint8Array(data)
        : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    window.__asked = 0;
    window.__settled = 0;  // runs asked for that a test has waited for (_settle)
    window.__answered = 0;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', event => {
                const bytes = bytesOf(event.data);
                if (bytes && fields(bytes).some(([field, status]) => field === 6 && status !== 2)) window.__answered = window.__asked;
            });
        }
        send(data) {
            const bytes = bytesOf(data);
            if (bytes && fields(bytes).some(([field]) => field === 11)) window.__asked += 1;
            super.send(data);
        }
    };
})();
"""


def _counting_runs(open_new):
    """Browser.new_page / new_context whose pages count their script runs (COUNT_RUNS)."""
    def opened(*args, **kwargs):
        target = open_new(*args, **kwargs)
        target.add_init_script(COUNT_RUNS)
        return target
    return opened


@pytest.fixture
def browser():
    require(Path(CHROMIUM).exists(), f"no browser at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        chromium.new_page = _counting_runs(chromium.new_page)
        chromium.new_context = _counting_runs(chromium.new_context)
        yield chromium
        chromium.close()


def _screenshot_dir(tmp_path) -> Path:
    """The test's screenshots, to look at after a run (the README's come from tools/readme_screenshots.py)."""
    out = tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


IDLE = """() => window.__answered === window.__asked
    && document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]')"""


def _settle(page) -> None:
    """Wait for the script run an interaction asked for (or the page's first run) to finish and be drawn, before
    the next interaction: at least one run asked for since the last _settle, and every run asked for answered.
    After an interaction that asks for no run (a tab without on_change, an expander), use _idle."""
    page.wait_for_function(f"""() => window.__asked > window.__settled && ({IDLE})()
        && (window.__settled = window.__asked) > 0""", timeout=180_000)  # marked in the same check: atomic
    _drawn(page)


def _drawn(page) -> None:
    """The page has drawn what it was sent: the websocket's messages are decoded and handed to React
    asynchronously, so the last run's elements can land a frame or two after its end is received."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done))))")
    page.wait_for_function(IDLE, timeout=180_000)


def _idle(page) -> None:
    """No script run is asked for or going on, and the page is drawn (after an interaction that asks for none)."""
    _drawn(page)


def _wait_for_title(page, text: str) -> None:
    page.get_by_role("heading", level=1).filter(has_text=text).first.wait_for(timeout=120_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    assert "Page not found" not in page.content()


# The script run is over (its title or an exception is on the page), and its visible charts and tables are drawn
# (those in a tab not shown are drawn when the tab is opened).
DRAWN = """title => {
    const drawn = (what, inside) => [...document.querySelectorAll(what)]
        .every(e => !e.checkVisibility() || e.querySelector(inside));
    const app = document.querySelector('[data-testid="stApp"]');
    const shown = [...document.querySelectorAll('h1')].some(h => h.innerText.includes(title))
        || document.querySelector('[data-testid="stException"]');
    return app && app.dataset.testScriptState === 'notRunning' && shown
        && !document.querySelector('[data-stale="true"]')
        && drawn('.js-plotly-plot', '.main-svg') && drawn('[data-testid="stDataFrame"]', 'canvas');
}"""


def _open_drawn(page, url: str, title: str) -> list[str]:
    """Go to a page, wait until it is drawn (a condition, not a clock); the texts of any exceptions on it."""
    page.goto(url, wait_until="commit")
    page.wait_for_function(DRAWN, arg=title, timeout=180_000)
    return page.locator('[data-testid="stException"]').all_inner_texts()


def test_every_page_in_the_browser(cpu_hog, streamlit_run_url, browser, tmp_path):
    """Every page, on a busy machine, from a fresh `streamlit run` server: the first visits import the heavy
    libraries."""
    app_url = streamlit_run_url
    shots = _screenshot_dir(tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    for name, _ in PAGES:
        assert _open_drawn(page, f"{app_url}/{'' if name == 'home' else name}", texts("en")[f"{name}.title"]) == []
        assert "Page not found" not in page.content()
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert (shots / f"{name}.png").stat().st_size > 10_000


def test_two_sessions_open_the_train_page_at_once(cpu_hog, streamlit_run_url, browser):
    """The reproduction of "cannot import name 'AutoConfig' from 'transformers'": two first visits at once."""
    app_url = streamlit_run_url
    pages = [browser.new_context().new_page() for _ in range(2)]
    for page in pages:  # both sessions start before either is drawn
        page.goto(f"{app_url}/train", wait_until="commit")
    for page in pages:
        page.wait_for_function(DRAWN, arg=texts("en")["train.title"], timeout=180_000)
        assert page.locator('[data-testid="stException"]').all_inner_texts() == []
        assert page.get_by_role("heading", level=1).filter(has_text=texts("en")["train.title"]).count() == 1


def test_injected_markdown_fetches_nothing(app_url, browser):
    """A model name holding an image link shows as text on the Ratings page; the browser never asks for it."""
    from core.ratings.store import open_store

    inject = "![x](http://127.0.0.1:9/x.png) **bold** $x$"
    with open_store() as store:
        store.add_samples([{"model": inject, "source": "playground", "prompt": "The harbour", "text": " sample",
                            "config_name": "greedy"}])
    page = browser.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    assert _open_drawn(page, f"{app_url}/ratings?rater=lee", texts("en")["ratings.title"]) == []
    assert [url for url in requested if "127.0.0.1:9/" in url] == []
    assert page.locator("img[src*='127.0.0.1:9'], a[href*='127.0.0.1:9'], .katex").count() == 0
    assert inject in page.get_by_test_id("stMain").inner_text().replace("\u2060", "")  # joiners keep URLs unlinked


def test_navigation_and_language_survive_a_reload(app_url, browser):
    page = browser.new_page()
    page.goto(app_url)
    _wait_for_title(page, texts("en")["home.title"])
    page.get_by_test_id("stSidebarNav").get_by_text(texts("en")["nav.train"]).click()
    _wait_for_title(page, texts("en")["train.title"])
    assert page.url.split("?")[0].endswith("/train")

    page.goto(f"{app_url}/train?lang=zh")
    _wait_for_title(page, texts("zh")["train.title"])
    page.reload()
    _wait_for_title(page, texts("zh")["train.title"])
    assert page.locator('[data-testid="stException"]').count() == 0

    # Streamlit's uploader draws its own button and limit in English; in 中文 our words stand in their place
    page.get_by_test_id("stSidebarNav").get_by_text(texts("zh")["nav.data"]).click()
    _wait_for_title(page, texts("zh")["data.title"])
    page.get_by_text(texts("zh")["data.source.upload"]).click()
    dropzone = page.get_by_test_id("stFileUploaderDropzone").first
    dropzone.wait_for(timeout=120_000)
    shown = dropzone.evaluate("""zone => [zone.querySelector('button [data-testid="stMarkdownContainer"] p'),
                                         zone.querySelector('[data-testid="stFileUploaderDropzoneInstructions"] span')]
        .map(el => [getComputedStyle(el).fontSize, getComputedStyle(el, '::after').content])""")
    assert shown[0] == ["0px", f'"{texts("zh")["uploader.button"]}"']
    assert shown[1] == ["0px", f'"{texts("zh")["uploader.limit"].format(size="2GB")}"'], shown  # Streamlit's "2GB"


def test_upload_a_file_and_see_its_preview(app_url, browser, tmp_path):
    """A GBK file with markup in it goes through the real uploader; the preview shows the markup as text."""
    corpus = tmp_path / "gbk-notes.txt"
    corpus.write_bytes(
        ("青石镇的雨下了三天，  河水涨到了石桥的第二级台阶。\n\n"
         "<script>window.__ran = true; alert('x')</script>镇上的人都说，这是十年来最大的一场雨。\n").encode("gbk")
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{app_url}/data")
    _wait_for_title(page, texts("en")["data.title"])
    _settle(page)
    page.get_by_text(texts("en")["data.source.upload"]).click()
    _settle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(corpus))
    page.get_by_text("gb18030").first.wait_for(state="attached", timeout=120_000)  # inside the data grid

    page.get_by_role("tab", name=texts("en")["data.tab.clean"]).click()
    page.get_by_text(texts("en")["data.preview"], exact=True).wait_for(timeout=120_000)
    # The Load tab shows the text too (the file's first documents, hidden now): wait for the preview's copy.
    page.get_by_text("<script>window.__ran = true;", exact=False).filter(visible=True).first.wait_for(timeout=120_000)
    assert page.evaluate("() => window.__ran === undefined") and dialogs == []
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "data-clean.png"), full_page=True)


def test_training_survives_a_reload_and_stops(app_url, browser, workspace, tmp_path):
    """Start a run from the form, reload the page mid-run, watch the step count grow, stop it."""
    from core.data import dataset
    from core.data.corpus import sample_texts

    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={"chars_out": 1})
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # Start is below the fold
    page.goto(f"{app_url}/train")
    _wait_for_title(page, texts("en")["train.title"])
    _settle(page)
    page.get_by_role("button", name=texts("en")["train.start"]).click()
    page.wait_for_url("**/train?*run=*", timeout=120_000)
    run_id = page.url.split("run=")[1].split("&")[0]
    # Start looks like a start: the run's panel is in view, and no "device is busy: queue it" for its own run.
    heading = page.get_by_role("heading", name=texts("en")["run.title"].format(run=run_id))
    heading.wait_for(timeout=120_000)
    _settle(page)
    in_view = "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }"
    page.wait_for_function(f"() => ({in_view})([...document.querySelectorAll('h3')]"
                           f".find(h => h.innerText.includes({json.dumps(run_id)})))", timeout=30_000)
    assert page.get_by_text(texts("en")["queue.busy"]).count() == 0
    assert page.get_by_role("button", name=texts("en")["queue.start"]).count() == 0
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "train-after-start.png"))

    def step() -> int:
        metric = page.get_by_test_id("stMetric").filter(has_text=texts("en")["run.step"]).first
        return int(metric.get_by_test_id("stMetricValue").inner_text().split("/")[0])

    page.wait_for_function("() => document.body.innerText.includes('step 0')", timeout=120_000)  # gallery at step 0
    page.reload()
    _wait_for_title(page, texts("en")["train.title"])
    page.get_by_role("heading", name=texts("en")["run.title"].format(run=run_id)).wait_for(timeout=120_000)
    deadline = time.monotonic() + 120
    first = step()
    while step() <= first and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
    assert step() > first, "the live view did not advance after the reload"
    assert page.locator(".js-plotly-plot").count() >= 2

    other = browser.new_page()  # a second tab follows Stop and Resume without a click
    other.goto(f"{app_url}/train?run={run_id}")
    other.get_by_role("heading", name=texts("en")["run.title"].format(run=run_id)).wait_for(timeout=120_000)
    _settle(page)
    page.get_by_role("button", name=texts("en")["run.stop"]).click()
    page.get_by_test_id("stMetricValue").filter(has_text=texts("en")["state.stopped"]).wait_for(timeout=120_000)
    status = (workspace.runs_dir / run_id / "status.json").read_text()
    assert '"stopped"' in status
    assert page.locator('[data-testid="stException"]').count() == 0
    other.get_by_test_id("stMetricValue").filter(has_text=texts("en")["state.stopped"]).wait_for(timeout=60_000)
    _settle(page)
    page.get_by_role("button", name=texts("en")["run.resume"]).click()
    other.get_by_role("button", name=texts("en")["run.stop"]).wait_for(timeout=60_000)  # live again, in the other tab
    other.get_by_role("button", name=texts("en")["run.stop"]).click()
    page.get_by_test_id("stMetricValue").filter(has_text=texts("en")["state.stopped"]).wait_for(timeout=120_000)


def test_playground_three_columns(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1500, "height": 1600})
    page.goto(f"{app_url}/playground")
    _wait_for_title(page, texts("en")["playground.title"])
    _settle(page)
    slider = page.get_by_test_id("stSlider").filter(has_text=texts("en")["pg.columns"]).get_by_role("slider")
    slider.focus()
    page.keyboard.press("ArrowLeft")  # 4 columns -> 3
    _settle(page)
    page.get_by_role("button", name=texts("en")["pg.generate"]).click()
    page.get_by_text(texts("en")["pg.token_view"]).wait_for(timeout=120_000)
    _settle(page)
    for name in ["greedy", "top-k 50", "top-p 0.9"]:
        assert page.get_by_text(name, exact=True).count() >= 1
    assert page.get_by_text("temperature 1.2", exact=True).count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "playground-grid.png"), full_page=True)


def test_rate_three_samples_and_find_them_after_a_reload(app_url, browser, workspace):
    """Scores and A/B votes show in the Results tab at once, in the same session, and survive a reload."""
    from core.ratings.store import open_store

    en = texts("en")
    with open_store() as store:
        store.add_samples([{"model": "starter", "source": "playground", "prompt": "The harbour",
                            "text": f" sample {i}", "config_name": f"setting {i}"} for i in range(3)])
    page = browser.new_page(viewport={"width": 1300, "height": 1400})
    page.goto(f"{app_url}/ratings?rater=lee")
    _wait_for_title(page, texts("en")["ratings.title"])
    for rated in range(1, 4):
        _settle(page)
        radios = page.get_by_test_id("stRadio").filter(visible=True)
        radios.nth(3).wait_for(timeout=120_000)  # drawn, not a placeholder (a busy machine)
        for radio in radios.all():  # Save needs every score
            radio.get_by_text("4", exact=True).click()
        page.get_by_role("button", name=texts("en")["ratings.submit"]).click()
        page.get_by_text(texts("en")["ratings.progress"].format(rated=rated, total=3)).wait_for(timeout=120_000)
    def _votes():
        with open_store() as store:
            return store.comparisons()

    page.get_by_role("tab", name=en["ratings.tab.compare"]).click()
    for votes in range(2):
        _settle(page)
        page.get_by_role("button", name=en["ratings.vote.a"]).click()
        poll(lambda n=votes + 1: len(_votes()) == n, timeout=120)
    _settle(page)
    page.get_by_role("tab", name=en["ratings.tab.results"]).click()  # no reload: the results are those of now
    page.get_by_text(en["ratings.bradley_terry"]).wait_for(timeout=120_000)
    assert page.get_by_text(en["ratings.no_ratings"]).filter(visible=True).count() == 0
    assert page.get_by_text(en["results.mean_ci"].format(by=en["ratings.by_setting"])).count() >= 1
    page.get_by_role("tab", name=en["ratings.tab.rate"]).click()
    page.reload()
    _wait_for_title(page, texts("en")["ratings.title"])
    page.get_by_text(texts("en")["ratings.progress"].format(rated=3, total=3)).wait_for(timeout=120_000)
    page.get_by_text(texts("en")["ratings.all_done"]).wait_for(timeout=120_000)
    with open_store() as store:
        assert sorted(r["fluency"] for r in store.ratings(rater="lee")) == [4, 4, 4]
    assert page.locator('[data-testid="stException"]').count() == 0


def test_chinese_renders_with_a_cjk_font(browser):
    """Chinese in the browser is drawn with a font that has its glyphs, not as boxes (.ci/run installs one)."""
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    require(bool(families), "no font for Chinese: apt-get install fonts-noto-cjk")
    page = browser.new_page()
    page.set_content("<p id='zh'>明月几时有，把酒問青天</p>")
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#zh"})["nodeId"]
    cdp.send("CSS.enable")
    used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    assert used and all(font["familyName"] in families for font in used), (used, sorted(families))


def _shown_lines(page) -> set[str]:
    """The lines of the visible HTML boxes: the cleaning preview's before and after (a hidden tab's are not)."""
    boxes = page.get_by_test_id("stHtml").filter(visible=True).all_inner_texts()
    return {line.strip() for box in boxes for line in box.splitlines() if line.strip()}


def test_a_chinese_corpus_cleaned_and_a_chinese_sample(app_url, browser, workspace, tmp_path):
    """宋词三百首 from a folder under the inbox, cleaned with the verse preset; then the starter under the prompt 明月."""
    corpus = SHARED / "data" / "zh-poetry" / "宋词三百首.json"
    require(corpus.exists(), f"no {corpus}: the shared Chinese poetry corpora")
    folder = workspace.inbox_dir / "song-ci"
    folder.mkdir(parents=True)
    shutil.copy(corpus, folder / corpus.name)
    verses = {line for poem in json.loads(corpus.read_text(encoding="utf-8")) for line in poem["paragraphs"]}
    shots = _screenshot_dir(tmp_path)
    en = texts("en")

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{app_url}/data")
    _wait_for_title(page, en["data.title"])
    _settle(page)
    page.get_by_text(en["data.source.folder"]).click()
    _settle(page)
    page.get_by_label(en["data.folder"]).fill("song-ci")
    page.get_by_label(en["data.folder"]).press("Enter")
    page.get_by_text(corpus.name).first.wait_for(state="attached", timeout=120_000)  # the file's row in the data grid
    _settle(page)
    page.get_by_role("tab", name=en["data.tab.clean"]).click()
    page.get_by_test_id("stSelectbox").filter(has_text=en["recipe.preset"]).click()
    page.get_by_role("option", name=en["preset.verse"]).click()
    _settle(page)
    page.get_by_test_id("stHtml").filter(visible=True).first.wait_for(timeout=120_000)  # the document before
    shown = _shown_lines(page)
    assert shown & verses, sorted(shown)[:10]  # the preview shows lines of the 宋词 themselves
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(shots / "data-clean-zh.png"), full_page=True)

    page.set_viewport_size({"width": 1400, "height": 2400})  # the grid sits below the settings columns
    page.goto(f"{app_url}/playground")
    _wait_for_title(page, en["playground.title"])
    _settle(page)
    prompts = page.get_by_label(en["pg.prompts"])
    prompts.fill("明月")
    prompts.press("Control+Enter")  # a text area commits on Ctrl+Enter
    _settle(page)
    page.get_by_role("button", name=en["pg.generate"]).click()
    page.get_by_text(en["pg.token_view"]).wait_for(timeout=120_000)
    _settle(page)
    page.get_by_role("heading", name="starter · 明月").wait_for(timeout=120_000)
    samples = page.get_by_test_id("stHtml").filter(visible=True).filter(has_text="明月").all_inner_texts()
    assert samples and all(s.startswith("明月") and len(s.strip()) > len("明月") for s in samples), samples
    assert page.get_by_text("青石镇的早晨").count() == 0  # the grid is for the typed prompt, not the draft's default
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(shots / "playground-zh.png"), full_page=True)


def test_recipe_survives_a_page_switch_and_a_reload(app_url, browser):
    """Turn a recipe step on, visit Train, come back: still on; reload: still on (the workspace's draft)."""
    label = texts("en")["step.convert_chinese"]
    page = browser.new_page(viewport={"width": 1400, "height": 1400})

    def toggle():
        page.get_by_role("tab", name=texts("en")["data.tab.clean"]).click()
        found = page.get_by_test_id("stCheckbox").filter(has_text=label).first
        found.wait_for(timeout=120_000)  # the sample corpus loads first
        return found

    page.goto(f"{app_url}/data")
    _wait_for_title(page, texts("en")["data.title"])
    _settle(page)
    assert not toggle().locator("input").is_checked()
    toggle().get_by_text(label).click()
    _settle(page)
    assert toggle().locator("input").is_checked()

    page.get_by_test_id("stSidebarNav").get_by_text(texts("en")["nav.train"]).click()
    _wait_for_title(page, texts("en")["train.title"])
    page.get_by_test_id("stSidebarNav").get_by_text(texts("en")["nav.data"]).click()
    _wait_for_title(page, texts("en")["data.title"])
    _settle(page)
    assert toggle().locator("input").is_checked()

    page.reload()
    _wait_for_title(page, texts("en")["data.title"])
    _settle(page)
    assert toggle().locator("input").is_checked()


def test_send_to_ratings_twice_leaves_the_count_unchanged(app_url, browser, workspace):
    from core.ratings.store import open_store

    en = texts("en")
    page = browser.new_page(viewport={"width": 1500, "height": 1600})
    page.goto(f"{app_url}/playground")
    _wait_for_title(page, en["playground.title"])
    _settle(page)
    page.get_by_role("button", name=en["pg.generate"]).click()
    page.get_by_text(en["pg.token_view"]).wait_for(timeout=120_000)
    _settle(page)
    box = page.get_by_test_id("stCheckbox").filter(has_text=en["pg.pick"]).first
    box.click()
    _settle(page)
    send = page.get_by_role("button", name=en["pg.send"].format(n=1))
    send.click()
    page.get_by_text(en["pg.sent"].format(n=1)).wait_for(timeout=120_000)
    _settle(page)
    with open_store() as store:
        assert store.count_samples() == 1
    assert not box.locator("input").is_checked()  # sent: the box is cleared
    box.click()
    _settle(page)
    send.click()
    page.get_by_text(en["results.already_stored"].format(n=1)).wait_for(timeout=120_000)
    with open_store() as store:
        assert store.count_samples() == 1
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_rating_with_a_missing_score_is_not_saved_and_results_show_the_ci_chart(app_url, browser, workspace):
    from core.ratings.store import open_store

    en = texts("en")
    with open_store() as store:
        ids = store.add_samples([{"model": "starter", "source": "playground", "prompt": "The harbour",
                                  "text": f" sample {i}", "config_name": "greedy", "sample_index": i} for i in range(3)])
        for i, sample in enumerate(ids[1:]):  # a few ratings stored through core for the Results tab
            store.rate(sample, "ann", {"fluency": 4 + i, "coherence": 3, "style": 2 + i, "repetition": 5})
            store.rate(sample, "bo", {"fluency": 3, "coherence": 4, "style": 2, "repetition": 4 - i})
    page = browser.new_page(viewport={"width": 1300, "height": 1400})
    page.goto(f"{app_url}/ratings?rater=lee")
    _wait_for_title(page, en["ratings.title"])
    _settle(page)
    page.get_by_test_id("stRadio").first.get_by_text("4", exact=True).click()  # fluency only
    page.get_by_role("button", name=en["ratings.submit"]).click()
    missing = en["results.missing_scores"].format(criteria="Coherence, Style fit, Non-repetition")
    page.get_by_text(missing).wait_for(timeout=120_000)
    with open_store() as store:
        assert store.ratings(rater="lee") == []
    page.get_by_role("tab", name=en["ratings.tab.results"]).click()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.wait_for(timeout=120_000)
    page.wait_for_function("() => document.querySelector('[data-testid=\"stPlotlyChart\"] .main-svg')", timeout=120_000)
    assert page.get_by_text(en["results.mean_ci"].format(by=en["ratings.by_setting"])).count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.fixture
def one_thread(monkeypatch):
    """Asked for before app_url: the server, and the trainers it starts, use one OpenMP thread (see run_core)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_a_two_trial_sweep_from_the_explore_tab_shows_its_comparison(one_thread, app_url, browser, workspace):
    """Explore tab: a 2-trial grid of 2-step runs; the comparison follows the trials live (the tab stays open while
    their run panels come and go above it) and ends with the best trial, the table and both plots; the best trial's
    gallery goes to the ratings, and its Playground link opens it."""
    from core.data import dataset
    from core.data.corpus import sample_texts
    from core.ratings.store import open_store
    from core.train import sweep

    en = texts("en")
    dataset.save(workspace.datasets_dir / "sample", sample_texts(), recipe={}, report={"chars_out": 1})
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(f"{app_url}/train")
    _wait_for_title(page, en["train.title"])
    _settle(page)
    page.get_by_role("tab", name=en["sweep.tab"]).click()
    _settle(page)
    for axis, value in (("learning_rate", "1e-3,3e-3"), ("batch_size", "2"), ("max_steps", "2"), ("block_size", "64")):
        field = page.get_by_label(en[f"sweep.axis.{axis}"]).filter(visible=True)  # the New run tab has the same
        field.fill(value)
        field.press("Enter")
        _settle(page)
    page.get_by_role("button", name=en["sweep.start"]).click()

    # The comparison polls while the trials run (no reload, no clock): both rows of the table end `completed`
    table = page.get_by_test_id("stDataFrame").filter(visible=True)
    table.get_by_text(en["state.completed"], exact=True).nth(1).wait_for(state="attached", timeout=300_000)
    (spec,) = sweep.list_sweeps(workspace)
    data = sweep.compare(workspace, spec.id)
    assert [t["state"] for t in data["trials"]] == ["completed", "completed"]
    assert data["axes"] == ["learning_rate"]  # a single value is part of the base, not an axis
    assert [(t["max_steps"], t["step"]) for t in data["trials"]] == [(2, 2), (2, 2)]
    page.get_by_text(en["sweep.finished"].format(done=2, planned=2)).wait_for(timeout=120_000)  # no more polling
    shown = en["sweep.best"].format(run=data["best"]["run"], loss=f"{data['best']['best_eval_loss']:.4f}")
    page.get_by_text(shown.split(": ", 1)[1]).wait_for(timeout=120_000)  # a word joiner follows the escaped colon
    page.wait_for_function(DRAWN, arg=en["train.title"], timeout=120_000)  # the table's canvas, both plots' svg
    assert page.locator(".js-plotly-plot").filter(visible=True).count() == 2  # parallel coordinates, curves
    assert page.locator('[data-testid="stException"]').count() == 0

    page.get_by_role("button", name=en["sweep.rate_best"]).click()
    page.get_by_text(en["sweep.rated"].split("}")[1], exact=False).first.wait_for(timeout=120_000)
    with open_store() as store:
        assert store.samples() and {s["run"] for s in store.samples()} == {data["best"]["run"]}
    page.get_by_role("link", name=en["sweep.open_best"]).click()
    _wait_for_title(page, en["playground.title"])
    page.get_by_test_id("stMultiSelect").get_by_text(data["best"]["run"], exact=True).wait_for(timeout=120_000)


# ---- timings (issue 12, item 4) ---------------------------------------------------------------------------------

PAGE_BUDGET_S, ACTION_BUDGET_S = 1.5, 1.0
# The budgets are for a machine with a core to spare; the assert allows 3× that, and more on an oversubscribed one
# (load average above the core count), where each process gets only cores/load of a core.
SLACK = 3
# Watches the script-run state of the session: an action's rerun has happened once it went running and back.
WATCH_RUNS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.__runs = [];
    new MutationObserver(() => window.__runs.push(app.dataset.testScriptState))
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
RERUN_DONE = "title => window.__runs.includes('running') && (" + DRAWN + ")(title)"


def _big_corpus(workspace) -> None:
    """2,000 documents in one JSONL file under the inbox (lines of the sample corpus, shuffled: no two alike),
    a dataset saved from them and a few rated samples, so every page has something to draw."""
    import random

    from core.data import dataset
    from core.data.corpus import sample_texts
    from core.ratings.store import open_store

    lines = [line for text in sample_texts() for line in text.splitlines() if line.strip()]
    rng = random.Random(0)
    documents = ["\n".join(rng.sample(lines, 8)) for _ in range(2000)]
    folder = workspace.inbox_dir / "big"
    folder.mkdir(parents=True)
    (folder / "documents.jsonl").write_text("".join(json.dumps({"text": d}, ensure_ascii=False) + "\n"
                                                    for d in documents), encoding="utf-8")
    dataset.save(workspace.datasets_dir / "big", documents, recipe={}, report={"chars_out": 1})
    with open_store() as store:
        ids = store.add_samples([{"model": "starter", "source": "playground", "prompt": "The harbour",
                                  "text": f" sample {i}", "config_name": ["greedy", "top-k 50"][i % 2],
                                  "sample_index": i} for i in range(6)])
        for sample in ids:
            store.rate(sample, "ann", {"fluency": 4, "coherence": 3, "style": 2, "repetition": 5})


def _seconds(action, wait) -> float:
    start = time.monotonic()
    action()
    wait()
    return round(time.monotonic() - start, 2)


def test_every_page_and_action_within_its_budget(app_url, browser, workspace, tmp_path):
    """Page opens and actions on the starter and a 2,000-document corpus, timed in the browser; written to
    QUILL_TIMINGS (or a temporary file) for BENCHMARKS.md."""
    _big_corpus(workspace)
    en = texts("en")
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    timings, out = [], Path(os.environ.get("QUILL_TIMINGS") or tmp_path / "timings.json")

    def record(what: str, seconds: float, budget: float | None) -> None:
        timings.append({"what": what, "seconds": seconds, "budget_s": budget})
        out.write_text(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count(), "timings": timings},
                                  indent=2), encoding="utf-8")

    def title(name: str):
        return page.get_by_role("heading", level=1).filter(has_text=en[f"{name}.title"]).first

    # A fresh server and a fresh browser: `python -m dashboard` imported torch before it listened, so the first
    # page is drawn to its end (the hardware panel needs torch) within the budget too.
    record("first visit after the server starts: Home's title and counts",
           _seconds(lambda: page.goto(app_url, wait_until="commit"),
                    lambda: page.get_by_test_id("stMetric").nth(2).wait_for(timeout=120_000)), PAGE_BUDGET_S)
    assert title("home").is_visible()
    record("first visit: Home drawn to the end, its hardware panel too",
           _seconds(lambda: None, lambda: page.wait_for_function(DRAWN, arg=en["home.title"], timeout=180_000)), None)

    # The Data page reads the 2,000 documents once (a cache miss, timed but not budgeted); later opens reuse them.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=en["nav.data"]).click()
    page.wait_for_function(DRAWN, arg=en["data.title"], timeout=180_000)
    page.get_by_text(en["data.source.folder"]).click()
    # wait for what the click is for, the folder's field, not for a rerun: a click that lands while the page is
    # still settling may be folded into the rerun under way (seen once under a two-worker suite)
    page.get_by_label(en["data.folder"]).wait_for(timeout=180_000)
    page.wait_for_function(DRAWN, arg=en["data.title"], timeout=180_000)
    page.evaluate(WATCH_RUNS)
    record("Data: read and preview 2,000 documents (first time)",
           _seconds(lambda: (page.get_by_label(en["data.folder"]).fill("big"),
                             page.get_by_label(en["data.folder"]).press("Enter")),
                    lambda: page.wait_for_function(RERUN_DONE, arg=en["data.title"], timeout=180_000)), None)
    page.get_by_text("big/documents.jsonl").first.wait_for(state="attached", timeout=120_000)

    for name, _ in [*PAGES[1:], PAGES[0]]:  # every page through the sidebar, the corpus cached
        page.evaluate(WATCH_RUNS)
        record(f"open {en[f'nav.{name}']}",
               _seconds(lambda name=name: page.get_by_test_id("stSidebarNav").get_by_role("link", name=en[f"nav.{name}"]).click(),
                        lambda name=name: page.wait_for_function(RERUN_DONE, arg=en[f"{name}.title"], timeout=180_000)),
               PAGE_BUDGET_S)
    record("reload Home: title and counts",
           _seconds(lambda: page.reload(wait_until="commit"),
                    lambda: page.get_by_test_id("stMetric").nth(2).wait_for(timeout=120_000)), PAGE_BUDGET_S)
    assert title("home").is_visible()

    page.get_by_test_id("stSidebarNav").get_by_role("link", name=en["nav.data"]).click()
    page.wait_for_function(DRAWN, arg=en["data.title"], timeout=180_000)
    record("Data: switch to the Clean tab (its charts drawn)",
           _seconds(lambda: page.get_by_role("tab", name=en["data.tab.clean"]).click(),
                    lambda: (page.get_by_text(en["data.preview"], exact=True).wait_for(timeout=120_000),
                             page.wait_for_function(DRAWN, arg=en["data.title"], timeout=180_000))),
           ACTION_BUDGET_S)
    seed = page.get_by_label(en["data.sample_seed"])
    for value in ("1", "2"):
        page.evaluate(WATCH_RUNS)
        record(f"Data: preview another sample (seed {value})",
               _seconds(lambda value=value: (seed.fill(value), seed.press("Enter")),
                        lambda: page.wait_for_function(RERUN_DONE, arg=en["data.title"], timeout=180_000)),
               ACTION_BUDGET_S)
    record("Data: switch to the Datasets tab",
           _seconds(lambda: page.get_by_role("tab", name=en["data.tab.datasets"]).click(),
                    lambda: page.get_by_label(en["datasets.open"]).first.wait_for(timeout=120_000)),
           ACTION_BUDGET_S)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name=en["nav.ratings"]).click()
    page.wait_for_function(DRAWN, arg=en["ratings.title"], timeout=180_000)
    record("Ratings: switch to the Results tab",
           _seconds(lambda: page.get_by_role("tab", name=en["ratings.tab.results"]).click(),
                    lambda: page.locator('[data-testid="stPlotlyChart"] .main-svg').filter(visible=True).first
                    .wait_for(timeout=120_000)),
           ACTION_BUDGET_S)

    assert page.locator('[data-testid="stException"]').count() == 0
    slack = SLACK * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    slow = [t for t in timings if t["budget_s"] is not None and t["seconds"] > t["budget_s"] * slack]
    assert slow == [], json.dumps(timings, indent=2)


def _wait_until(page, condition, timeout_ms: int = 180_000) -> None:
    """Wait on a condition while the page's events go on (a plain sleep would hold up playwright's own loop)."""
    for _ in range(timeout_ms // 200):
        if condition():
            return
        page.wait_for_timeout(200)
    raise TimeoutError(f"gave up after {timeout_ms / 1000} s")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_write_suggest_accept_branch_undo_and_reload(app_url, browser, workspace, lang):
    """Write a line, Suggest, 3 alternatives, accept one, branch at a token, undo, reload: the draft and its
    provenance are there, and the accept is a preference in the ratings database."""
    from core.ratings import choices
    from core.ratings.store import open_store
    from core.write import drafts

    words = texts(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(f"{app_url}/write?lang={lang}&writer=ann")
    _wait_for_title(page, words["write.title"])
    page.get_by_label(words["write.new_name"]).fill("poem")
    page.get_by_label(words["write.new_name"]).press("Enter")
    _settle(page)
    page.get_by_role("button", name=words["write.new"]).click()
    _settle(page)
    editor = page.get_by_role("textbox", name=words["write.text"], exact=True)
    editor.fill("The lighthouse keeper")
    editor.press("Control+Enter")
    _settle(page)
    page.get_by_role("button", name=words["write.suggest_line"]).click()
    accepts = page.get_by_role("button", name=words["write.accept"], exact=True)
    _wait_until(page, lambda: accepts.count() == 3)
    _settle(page)
    accepts.nth(0).click()
    _settle(page)
    accepted = drafts.load(workspace, "poem")
    assert accepted.text.startswith("The lighthouse keeper") and len(accepted.spans) == 1
    expect(editor).to_have_value(accepted.text)
    with open_store() as store:
        [choice] = choices.list_choices(store)
    assert (choice.action, choice.writer, choice.accepted) == ("accept", "ann", choice.shown[0]) and len(choice.shown) == 3
    page.get_by_role("button", name=words["write.branch"]).click()
    _wait_until(page, lambda: len(drafts.load(workspace, "poem").undo) == 3)  # the edit, the accept, the branch
    _settle(page)
    page.get_by_role("button", name=words["write.undo"]).click()
    _settle(page)
    assert drafts.load(workspace, "poem").text == accepted.text
    page.reload()
    _wait_for_title(page, words["write.title"])
    _settle(page)
    expect(page.get_by_role("textbox", name=words["write.text"], exact=True)).to_have_value(accepted.text)
    page.get_by_text(words["write.provenance"]).click()
    _idle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    assert drafts.load(workspace, "poem").spans[0].model == "starter"
    assert page.locator('[data-testid="stException"]').count() == 0
