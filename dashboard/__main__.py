"""`python -m dashboard [streamlit options]`: serve the lab, with everything its pages import imported before the
server listens.

Streamlit imports what a page needs on its first visit, so after a plain `streamlit run` the first visitor waits for
pandas, plotly, SQLAlchemy and the lab's modules (about 0.8 s on 2 cores), and the pages' torch and transformers
import in `warm_imports`' background thread while the browser fetches the page's scripts: that thread holds the
interpreter lock for seconds, and the same server thread serves those scripts (a first Home took 2.1-2.3 s against
1.5-1.6 with everything imported first, and a bare Streamlit page 1.5-1.6). Here the server starts about 5 s later and
every first visit is served by an idle process.

The server's settings (127.0.0.1 only, no usage statistics, the theme) are in `dashboard/.streamlit/config.toml`,
which Streamlit reads beside the app script, so they apply wherever this is started from; another address is the
user's explicit choice (`--server.address`, or STREAMLIT_SERVER_ADDRESS).
"""

from __future__ import annotations

import ast
import importlib
import logging
import sys
from pathlib import Path

from core.errors import UserError, environment_language
from dashboard import serving_guard

APP = Path(__file__).with_name("app.py")
PAGES = APP.parent.parent / "pages"
# Imported by Streamlit itself on a first script run: set_page_config's emoji icon compiles a large regular
# expression (0.16 s) on first use.
STREAMLIT_LAZY = ["streamlit.emojis"]


def script_imports(script: Path) -> list[str]:
    """What a script imports at its top level, read without running it (the app and page scripts draw as they
    run): for `from x import y`, both x and x.y, since y may be a module (`from dashboard import sidebar`)."""
    names = []
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def preload() -> None:
    """Import what the app and every page import, as their first visits would."""
    # Each @st.cache_data met before the server's runtime exists logs "No runtime found": only its parameters are
    # checked then (the caches themselves are made on first call, in the runtime), so the warning is noise here.
    from streamlit.runtime.caching import cache_data_api  # its logger gets its level when it is made

    logger = logging.getLogger(cache_data_api.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for name in STREAMLIT_LAZY:
            importlib.import_module(name)
        for script in [APP, *sorted(PAGES.glob("*.py"))]:
            for name in script_imports(script):
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError as e:
                    if e.name != name:  # a module that is there failed to import: as a first visit would, say so
                        raise
    finally:
        logger.setLevel(level)


def refuse_unsafe_serving(argv: list[str]) -> None:
    """One line `error: ...` and exit 2, before anything is imported or bound: no owner's pages beyond this machine
    without sign-in, and no broken sign-in configuration (dashboard/serving_guard.py)."""
    try:
        serving_guard.check(argv)
    except UserError as error:
        print(f"error: {error.text(environment_language())}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    refuse_unsafe_serving(sys.argv[1:])
    # lazy: streamlit takes ~340 ms to import, and only this path needs it
    from streamlit import delta_generator
    from streamlit.web import cli

    from dashboard import warm_imports

    preload()
    warm_imports.warm()  # torch, transformers and the rest: no session exists yet to wait for them
    # A process's first Streamlit element asks whether it runs in a REPL, through inspect.stack(), which resolves the
    # file of every loaded module: 0.14 s of the first visit once all of the above is loaded. Under `streamlit run`
    # the answer never changes anything (its warning is for scripts run without the runtime), so it is skipped.
    delta_generator._use_warning_has_been_displayed = True
    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
