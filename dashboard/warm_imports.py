"""The heavy libraries, imported once per server process by one background thread, while pages already render.

Streamlit runs each session's script in a thread of its own. Two of them importing transformers' lazy module at
the same moment can get `ImportError: cannot import name 'AutoConfig' from 'transformers'` (its `__getattr__`
imports submodules on first use, and Python's import locks break the resulting cross-thread cycle by handing one
thread a half-initialized module). So one thread imports everything, under a process-wide lock, and afterwards
every name is a plain attribute.

`python -m dashboard` (the lab's launcher) imports all of it before the server listens. Under a plain
`streamlit run`, `start()` (app.py, after each page) starts that thread once per process and returns at once: a
page's title, text and tables do not wait for torch. Code that needs a heavy library calls `warm()` (or `wait()`, with a spinner)
first: it returns at once when the import is done, imports in its own thread when nothing has started it yet, and
otherwise blocks on the lock until the thread is done.
"""

from __future__ import annotations

import importlib
import threading

import streamlit as st

# (module, names resolved on it): everything core/ imports lazily on the server's code paths. The transformers
# names include the GPT-2 family's classes, so the first model or tokenizer load does not import them either.
HEAVY: list[tuple[str, tuple[str, ...]]] = [
    ("torch", ()),
    ("transformers", ("AutoConfig", "AutoTokenizer", "AutoModelForCausalLM", "GPT2Config", "GPT2TokenizerFast",
                      "GPT2LMHeadModel")),
    ("huggingface_hub", ("constants", "try_to_load_from_cache")),
    ("huggingface_hub.utils", ("get_session",)),
    ("evaluate", ()),
    ("pandas", ()),
    ("plotly.graph_objects", ("Figure", "Scatter", "Bar", "Histogram", "Waterfall")),
    ("scipy.stats", ()),
    ("choix", ()),
    ("krippendorff", ()),
    ("trafilatura", ()),
    ("lxml.etree", ()),
    ("selectolax.lexbor", ("LexborHTMLParser",)),
    ("ftfy", ()),
    ("ftfy.badness", ()),
    ("opencc", ()),
    ("langid.langid", ("LanguageIdentifier", "model")),
]

_lock = threading.Lock()
_done = threading.Event()
_started = threading.Lock()  # guards the one start of the background thread
_thread: threading.Thread | None = None


def ready() -> bool:
    return _done.is_set()


def start() -> None:
    """Start the background import once per process; return at once."""
    global _thread
    with _started:
        if _thread is not None or _done.is_set():
            return
        # The lock is taken here, for the thread: a warm() called right after start() waits for the background
        # import rather than winning the lock and importing in a page thread too. (A Lock may be released by
        # another thread than the one that took it.)
        _lock.acquire()
        if _done.is_set():  # a page thread imported everything while this waited for the lock
            _lock.release()
            return
        # Daemon: a server that stops mid-import does not wait for it.
        _thread = threading.Thread(target=_background, name="quill-warm-imports", daemon=True)
        _thread.start()


def _background() -> None:
    try:
        _import_all()
    finally:
        _lock.release()


def warm() -> None:
    """Import HEAVY in this thread, or wait for the thread that is doing it; free once done."""
    if _done.is_set():
        return
    with _lock:
        if not _done.is_set():
            _import_all()


def _import_all() -> None:
    for _ in range(2):
        # Twice: loading transformers' modeling code puts a fresh lazy module into sys.modules["transformers"],
        # and the names are to be resolved on the module that the pages will get.
        for module_name, names in HEAVY:
            module = importlib.import_module(module_name)
            for name in names:
                getattr(module, name)
    _done.set()


def wait(message: str) -> None:
    """For the parts of a page that need torch or transformers: a spinner with `message` until the import is done."""
    if _done.is_set():
        return
    with st.spinner(message):
        warm()
