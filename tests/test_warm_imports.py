"""The heavy libraries import once, in one background thread, while pages render; no page thread races it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dashboard.navigation import PAGES
from tests.conftest import ROOT, core_env

# What each Streamlit script thread does on a fresh server: app.py's start(), then (for the parts that need them)
# warm() and the page's own imports. Without the one importing thread, these four threads failed in 6 runs of 6 with
# "cannot import name 'AutoTokenizer' from 'transformers'".
PAGE_THREADS = r"""
import json, sys, threading
from dashboard import warm_imports

names = ["AutoConfig", "AutoTokenizer", "AutoModelForCausalLM", "GPT2Config"]
start, errors, at_once = threading.Barrier(len(names)), [], []

def page_thread(name):
    start.wait()
    try:
        warm_imports.start()
        at_once.append(warm_imports.ready())  # start() does not wait for the import
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
print(json.dumps({"errors": errors, "ready": warm_imports.ready(), "unresolved": unresolved, "at_once": at_once,
                  "missing": [m for m, _ in warm_imports.HEAVY if m not in sys.modules]}))
"""


def test_page_threads_starting_together_all_import_transformers():
    # A fresh interpreter: the race is on the first import only.
    done = subprocess.run([sys.executable, "-c", PAGE_THREADS], cwd=ROOT, env=core_env(), capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == {"errors": [], "ready": True, "unresolved": [], "missing": [],
                      "at_once": [False] * 4}, done.stderr[-2000:]


# A page's first run on a fresh server, with the background import held back until the page asks for it (warm()):
# every torch / transformers / huggingface_hub module a page thread imports before that would race the background
# thread. Holding it back makes the check independent of how fast the machine imports.
FIRST_RUN = r"""
import json, sys, threading
from streamlit.testing.v1 import AppTest
from dashboard import warm_imports

GUARDED = ("torch", "transformers", "huggingface_hub")
asked, early = threading.Event(), []

class Watch:  # records; never blocks (finders run under the global import lock)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in GUARDED and not warm_imports.ready() and threading.current_thread().name != "quill-warm-imports":
            early.append(name)
        return None

sys.meta_path.insert(0, Watch())
real_warm, real_import_all = warm_imports.warm, warm_imports._import_all

def warm():
    asked.set()
    real_warm()

def held_import_all():
    if threading.current_thread().name == "quill-warm-imports":
        asked.wait()
    real_import_all()

warm_imports.warm, warm_imports._import_all = warm, held_import_all
page = sys.argv[1]
at = AppTest.from_file("dashboard/app.py", default_timeout=300)
at.run()
if page != "home":
    at.switch_page(f"../pages/{page}.py").run()
print(json.dumps({"early": sorted(set(early)), "exceptions": [e.value for e in at.exception],
                  "title": at.title[0].value, "ready": warm_imports.ready()}))
"""


@pytest.mark.parametrize("page", [name for name, _ in PAGES])
def test_a_first_page_imports_no_heavy_library_before_asking(page, workspace):
    from dashboard.i18n import texts

    done = subprocess.run([sys.executable, "-c", FIRST_RUN, page], cwd=ROOT, env=core_env(), capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == {"early": [], "exceptions": [], "title": texts("en")[f"{page}.title"], "ready": True}, \
        done.stderr[-2000:]
