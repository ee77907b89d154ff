"""The README's screenshots, of a lab in use: a workspace filled through `python -m core` as a user would fill it
(a Chinese verse dataset, a short run of the starter on it, samples under three settings, rated), then the real
app (`streamlit run`) in headless Chromium, page by page.

    make screenshots       # or: .venv/bin/python tools/readme_screenshots.py [--workspace DIR] [--out DIR] [--reuse]

The workspace sits at a neutral path (default /tmp/quill-lab/workspace), since the sidebar shows it. The corpus is
全唐诗 part 0 and 宋词三百首 from ../shared/data/zh-poetry, or the project's own sample corpus where that is absent.
The ratings and A/B votes come from three scripted raters (seeded, so every renewal draws the same numbers): the
screenshots show what the Results tab makes of ratings, not a human verdict on these models.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from dashboard.local_server import ServerDidNotStart, serving

ROOT = Path(__file__).resolve().parent.parent
ZH_POETRY = ROOT.parent / "shared" / "data" / "zh-poetry"
CORPUS_FILES = ["poet.tang.0.json", "宋词三百首.json"]  # 全唐诗 is in traditional characters: the recipe converts it
SAMPLE_CORPUS = ROOT / "core" / "data" / "corpus" / "sample"
MARKER = ".readme-screenshots"  # a workspace this script made, and may therefore replace
DATASET, RUN, FOLDER = "tang-song", "tang-song-starter", "tang-song"
PROMPTS = ["明月", "春风", "江南"]
SETTINGS = [  # the Playground's columns and the rated samples' settings
    {"name": "greedy", "do_sample": False, "max_new_tokens": 48, "num_samples": 3},
    {"name": "top-k 50", "do_sample": True, "top_k": 50, "max_new_tokens": 48, "num_samples": 3},
    {"name": "top-p 0.9", "do_sample": True, "top_p": 0.9, "max_new_tokens": 48, "num_samples": 3},
]
RATERS = {"ann": 0.3, "bo": -0.2, "chen": 0.0}  # each scripted rater's leniency
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as in tests/test_browser.py
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
WIDTH = 1280


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default="/tmp/quill-lab/workspace", help="made afresh unless --reuse")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    parser.add_argument("--reuse", action="store_true", help="keep a workspace this script filled before")
    args = parser.parse_args()
    workspace = Path(args.workspace).expanduser().absolute()
    if not (args.reuse and (workspace / MARKER).exists()):
        populate(workspace)
    write_drafts(workspace, verse_recipe())  # each renewal starts the pages from the same state
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with serve(workspace) as url:
        for path in shoot(url, out):
            print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


# --- the workspace, through the command line ---------------------------------------------------------------------


def populate(workspace: Path) -> None:
    fresh(workspace)
    core(workspace, "starter")
    recipe = verse_recipe()
    make_dataset(workspace, recipe)
    # A short run (a poem fits in 64 tokens): a few minutes on a laptop's CPU, enough for a falling curve and a
    # gallery of five checkpoints.
    core(workspace, "train", "--data", DATASET, "--model", "starter", "--name", RUN, "--device", "cpu",
         "--block-size", "64", "--max-steps", "100", "--eval-steps", "20", "--logging-steps", "5",
         "--gallery-prompts", *PROMPTS)
    rate(workspace)
    add_votes(workspace)


def make_dataset(workspace: Path, recipe) -> None:
    """The poetry copied into the inbox (where the Data page's folder source reads, so the page finds it too),
    cleaned into a dataset by the recipe."""
    inbox = workspace / "inbox" / FOLDER
    inbox.mkdir(parents=True)
    for file in corpus_files():
        shutil.copy(file, inbox / file.name)
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "recipe.json").write_text(recipe.to_json(), encoding="utf-8")
        core(workspace, "clean", inbox, "--recipe", Path(scratch) / "recipe.json",
             "--out", workspace / "datasets" / DATASET)


def rate(workspace: Path) -> None:
    """Samples of the run and of the starter under the three settings, imported with the scripted raters' scores."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "settings.json").write_text(json.dumps(SETTINGS), encoding="utf-8")
        samples = []
        for model in (RUN, "starter"):
            out = scratch / f"{model}.jsonl"
            core(workspace, "sample", "--model", model, *[a for p in PROMPTS for a in ("--prompt", p)],
                 "--configs", scratch / "settings.json", "--out", out)
            samples += [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
        rated = scratch / "rated.jsonl"
        rated.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in score_rows(samples)),
                         encoding="utf-8")
        core(workspace, "ratings", "import", rated)


def fresh(workspace: Path) -> None:
    """An empty workspace; one that exists is replaced only if this script made it."""
    if workspace.exists():
        if not (workspace / MARKER).exists():
            sys.exit(f"error: {workspace} exists and was not made by this script; name another --workspace")
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    (workspace / MARKER).write_text("made by tools/readme_screenshots.py\n", encoding="utf-8")


def corpus_files() -> list[Path]:
    files = [ZH_POETRY / name for name in CORPUS_FILES]
    if all(f.exists() for f in files):
        return files
    print(f"note: no {ZH_POETRY}: the project's sample corpus instead")
    return sorted(p for p in SAMPLE_CORPUS.iterdir() if p.is_file())


def verse_recipe():
    from core.data.cleaning.recipe import Recipe

    recipe = Recipe.preset("verse")
    recipe.step("convert_chinese").enabled = True  # traditional to simplified (OpenCC's default direction, t2s)
    return recipe


def core(workspace: Path, *args) -> None:
    """`python -m core ARGS` against the workspace; its one-line error ends the script."""
    command = [sys.executable, "-m", "core", *map(str, args)]
    print("$", " ".join(command[1:]), flush=True)
    done = subprocess.run(command, cwd=ROOT, env=lab_env(workspace), capture_output=True, text=True)
    print(done.stdout.rstrip())
    if done.returncode:
        sys.exit(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"error: {args[0]} failed")


def lab_env(workspace: Path) -> dict[str, str]:
    return {**os.environ, "QUILL_HOME": str(workspace), "HF_HUB_OFFLINE": "1"}


# --- scripted raters ---------------------------------------------------------------------------------------------


def score_rows(samples: list[dict]) -> list[dict]:
    """One row per (sample, rater) in `ratings import`'s format. A rater's scores follow what a reader would see:
    the fine-tune's verse fits the style better than the untrained starter's, and a sample's measured repetition
    (a greedy row of commas) lowers every score, most of all non-repetition; then the rater's leniency and noise."""
    rng = random.Random(12)
    rows = []
    for sample_id, sample in enumerate(samples):
        tuned = sample["model"] != "starter"
        repetition = sample["stats"]["repetition_rate"]
        base = {"fluency": (3.6 if tuned else 1.8) - 1.5 * repetition, "coherence": (3.0 if tuned else 1.5) - repetition,
                "style": (3.9 if tuned else 1.4) - repetition, "repetition": 4.7 - 3.6 * repetition}
        for rater, leniency in RATERS.items():
            scores = {c: min(5, max(1, round(m + leniency + rng.gauss(0, 0.7)))) for c, m in base.items()}
            rows.append({**sample, "sample_id": sample_id, "rater": rater, **scores})
    return rows


def add_votes(workspace: Path) -> None:
    """Blind A/B votes (no command line writes votes: the store's API, as the Compare tab does): each scripted
    rater compares pairs of one prompt and prefers the sample with the higher mean score, a tie when close."""
    os.environ["QUILL_HOME"] = str(workspace)
    from core.ratings.store import open_store

    rng = random.Random(7)
    with open_store() as store:
        means: dict[int, float] = {}
        for rating in store.ratings():
            means.setdefault(rating["sample_id"], 0.0)
            means[rating["sample_id"]] += sum(rating[c] for c in ("fluency", "coherence", "style", "repetition"))
        by_prompt: dict[str, list[int]] = {}
        for sample in store.samples():
            by_prompt.setdefault(sample["prompt"], []).append(sample["id"])
        for rater in RATERS:
            for ids in by_prompt.values():
                for _ in range(12):
                    a, b = rng.sample(ids, 2)
                    margin = means[a] - means[b] + rng.gauss(0, 3)
                    store.vote(a, b, rater, "tie" if abs(margin) < 1.5 else "a" if margin > 0 else "b")


def write_drafts(workspace: Path, recipe) -> None:
    """What a user's last visit leaves in drafts/: the Data page on the poetry folder with the recipe that made the
    dataset, the Playground on the run beside the starter under one prompt."""
    from core.playground.sampling import DecodingConfig
    from core.workspace import Workspace
    from dashboard.data.data_form import DataForm, draft
    from dashboard.drafts import Draft
    from dashboard.playground.playground_view import PlaygroundForm

    ws = Workspace(workspace)
    columns = [DecodingConfig(**{k: v for k, v in s.items() if k != "num_samples"}, num_samples=2) for s in SETTINGS]
    drafts = {
        draft(ws): DataForm(source="folder", folder=FOLDER, recipe=recipe.to_dict()),
        Draft("playground", PlaygroundForm, ws): PlaygroundForm(models=[f"{RUN}/final", "starter"], prompts=PROMPTS[0],
                                                                columns=columns),
    }
    for target, value in drafts.items():
        target.path.parent.mkdir(parents=True, exist_ok=True)
        target.path.write_text(json.dumps(dataclasses.asdict(value), ensure_ascii=False, indent=1), encoding="utf-8")


# --- the app, in the browser -------------------------------------------------------------------------------------


@contextmanager
def serve(workspace: Path):
    with tempfile.TemporaryFile("w+") as log:
        try:
            with serving(lab_env(workspace), log) as url:
                yield url
        except ServerDidNotStart as error:
            sys.exit(f"error: {error}")


# The script run is over and its visible charts and tables are drawn (as tests/test_browser.py waits for a page).
DRAWN = """() => {
    const drawn = (what, inside) => [...document.querySelectorAll(what)]
        .every(e => !e.checkVisibility() || e.querySelector(inside));
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.dataset.testScriptState === 'notRunning' && document.querySelector('h1')
        && !document.querySelector('[data-stale="true"]') && !document.querySelector('[data-testid="stStatusWidget"]')
        && !document.querySelector('[data-testid="stSkeleton"]')
        && drawn('.js-plotly-plot', '.main-svg') && drawn('[data-testid="stDataFrame"]', 'canvas');
}"""


def shoot(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from dashboard.i18n import texts

    en = texts("en")
    if not Path(CHROMIUM).exists():
        sys.exit(f"error: no browser at {CHROMIUM}: apt-get install chromium")
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": 800})

        def visit(path: str) -> None:
            page.goto(f"{url}{path}", wait_until="commit")
            settle()

        def settle() -> None:
            page.wait_for_timeout(700)  # an interaction's rerun has begun
            page.wait_for_function(DRAWN, timeout=300_000)
            if page.get_by_test_id("stException").count():
                sys.exit(f"error: an exception on {page.url}: {page.get_by_test_id('stException').first.inner_text()}")

        def snap(name: str, height: int, top=None, above: int = 40) -> None:
            page.set_viewport_size({"width": WIDTH, "height": height})
            if top is not None:  # this element at the top of the view, under a little margin
                top.evaluate("e => { e.scrollIntoView({block: 'start'}); }")
                page.mouse.wheel(0, -above)
                page.wait_for_timeout(500)
            page.mouse.move(WIDTH - 8, height // 2)  # over the margin: no tooltip, no sidebar button
            page.add_style_tag(content=".modebar-container { display: none !important; }")  # nor a chart's toolbar
            path = out / f"{name}.png"
            page.screenshot(path=str(path))
            written.append(path)

        def tab(name: str) -> None:
            page.get_by_role("tab", name=name).click()
            settle()

        visit("/")
        snap("home", 760)

        visit("/data")
        tab(en["data.tab.clean"])
        page.get_by_test_id("stHtml").filter(visible=True).first.wait_for(timeout=300_000)
        snap("data-clean", 1700, top=page.get_by_role("heading", name=en["data.preview"]))  # down to a document
        tab(en["data.tab.datasets"])
        page.get_by_test_id("stExpander").filter(visible=True).filter(has_text="#0").first.click()
        settle()
        snap("data", 1200, top=page.get_by_role("heading", level=1), above=200)  # back at the top

        visit(f"/train?run={RUN}")
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2")
        snap("train", 1150)

        visit("/playground")
        page.get_by_role("button", name=en["pg.generate"]).click()
        page.get_by_text(en["pg.token_view"]).first.wait_for(timeout=300_000)
        settle()
        page.get_by_role("heading", name=f"{RUN}/final · {PROMPTS[0]}").wait_for()  # the run beside the starter
        snap("playground", 1100, top=page.get_by_role("heading", name=f"{RUN}/final · {PROMPTS[0]}"), above=90)

        visit("/ratings?rater=ann")
        tab(en["ratings.tab.results"])
        snap("ratings", 1250, top=page.get_by_role("tab", name=en["ratings.tab.results"]), above=8)
        ranking = page.get_by_text(en["ratings.bradley_terry"]).first
        snap("ratings-ranking", 1000, top=ranking)
        browser.close()
    return written


if __name__ == "__main__":
    main()
