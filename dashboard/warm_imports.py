"""The heavy libraries, imported once per server process by one thread, before any page code runs.

Streamlit runs each session's script in a thread of its own. Two of them importing transformers' lazy module at
the same moment can get `ImportError: cannot import name 'AutoConfig' from 'transformers'` (its `__getattr__`
imports submodules on first use, and Python's import locks break the resulting cross-thread cycle by handing one
thread a half-initialized module). So `app.py` calls `warm()` first: the first session imports everything under
a process-wide lock, the others wait on that lock, and afterwards every name is a plain attribute.
"""

from __future__ import annotations

import importlib
import threading

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


def ready() -> bool:
    return _done.is_set()


def warm() -> None:
    """Import HEAVY in this thread, or wait for the thread that is doing it; free once done."""
    if _done.is_set():
        return
    with _lock:
        if _done.is_set():
            return
        for _ in range(2):
            # Twice: loading transformers' modeling code puts a fresh lazy module into sys.modules["transformers"],
            # and the names are to be resolved on the module that the pages will get.
            for module_name, names in HEAVY:
                module = importlib.import_module(module_name)
                for name in names:
                    getattr(module, name)
        _done.set()
