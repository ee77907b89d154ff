"""`python -m dashboard`: the pages' modules are imported before the server listens, torch is not."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, core_env

PROBE = (
    "import json, sys; from dashboard.__main__ import preload; preload(); "
    "print(json.dumps({m: m in sys.modules for m in "
    "('core.summary', 'dashboard.playground.playground_view', 'pandas', 'sqlalchemy', 'plotly.graph_objects', 'torch', "
    "'transformers')}))"
)


def test_preload_imports_the_pages_modules_but_not_torch():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=core_env(), capture_output=True, text=True,
                         check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    # A first visit finds these imported: Home, Data, Ratings and the Playground draw without importing them.
    assert all(loaded[m] for m in ("core.summary", "dashboard.playground.playground_view", "pandas", "sqlalchemy",
                                   "plotly.graph_objects")), loaded
    # Seconds of torch before the server listens would delay every start; it comes in warm_imports' thread.
    assert not loaded["torch"] and not loaded["transformers"], loaded
