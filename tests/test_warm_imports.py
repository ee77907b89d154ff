"""Page threads that start at once import the heavy libraries once, in one thread, and none of them fails."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, core_env

# What each Streamlit script thread does on a fresh server: app.py's warm(), then the page's own imports. Without
# warm(), these four threads failed in 6 runs of 6 with "cannot import name 'AutoTokenizer' from 'transformers'".
PAGE_THREADS = r"""
import json, sys, threading
from dashboard import warm_imports

names = ["AutoConfig", "AutoTokenizer", "AutoModelForCausalLM", "GPT2Config"]
start, errors = threading.Barrier(len(names)), []

def page_thread(name):
    start.wait()
    try:
        warm_imports.warm()
        exec(f"from transformers import {name}", {})
    except Exception as error:
        errors.append(repr(error))

threads = [threading.Thread(target=page_thread, args=(name,)) for name in names]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
unresolved = [n for n in dict(warm_imports.HEAVY)["transformers"] if n not in vars(sys.modules["transformers"])]
print(json.dumps({"errors": errors, "ready": warm_imports.ready(), "unresolved": unresolved,
                  "missing": [m for m, _ in warm_imports.HEAVY if m not in sys.modules]}))
"""


def test_page_threads_starting_together_all_import_transformers():
    # A fresh interpreter: the race is on the first import only.
    done = subprocess.run([sys.executable, "-c", PAGE_THREADS], cwd=ROOT, env=core_env(), capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == {"errors": [], "ready": True, "unresolved": [], "missing": []}, done.stderr[-2000:]
