"""The house rules that keep the three layers apart."""

import ast
import subprocess
import sys

from tests.conftest import ROOT, core_env


def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_never_imports_streamlit():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if any(m.split(".")[0] == "streamlit" for m in _imported_modules(path))
    ]
    assert offenders == []


def test_importing_all_of_core_loads_no_streamlit():
    modules = [
        "core." + ".".join(p.relative_to(ROOT / "core").with_suffix("").parts)
        for p in (ROOT / "core").rglob("*.py")
        if p.name != "__main__.py"
    ]
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nprint('streamlit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=core_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_pages_do_no_file_io_or_model_code():
    for path in (ROOT / "pages").glob("*.py"):
        modules = set(_imported_modules(path))
        assert not modules & {"torch", "transformers", "os", "shutil", "sqlite3", "pathlib"}, path.name
        assert "open(" not in path.read_text(encoding="utf-8"), path.name


# The stages of core/, lowest first, written once: a module may import its own stage and any lower one, never a higher
# one, at module level or inside a function alike (a lazy import hides a cycle, it does not remove it). The base holds
# the shared modules and the run folder's own (its config, states and layout), which models, evaluation and the
# pages read as much as training writes them; the top holds the command line and the summary, which gather them all.
STAGES = (
    ("core.errors", "core.files", "core.text", "core.hardware", "core.dataclass_json", "core.dataclass_cli",
     "core.workspace", "core.train.state", "core.train.config", "core.train.run_dir",
     "core.train.budget"),  # budget: the config's duration values (pure, no imports of the lab)
    ("core.data",),
    ("core.models",),
    ("core.evaluation",),
    ("core.ratings",),
    ("core.playground",),
    ("core.train",),
    ("core.write",),
    ("core.publish",),
    ("core.bench",),
    ("core.cli", "core.summary", "core.__main__", "core"),
)


def _stage(module: str) -> int | None:
    """The stage of a core module (the longest declared prefix wins), None outside core."""
    best = None
    for level, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (level, len(prefix))
    return None if best is None else best[0]


def _all_imports(path):
    """(line, module) of every import in a file, wherever it sits, `from core import x` as core.x."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def test_no_module_imports_a_higher_stage_not_even_inside_a_function():
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        own = _stage(module)
        assert own is not None, f"{module} is in no declared stage"
        for line, imported in _all_imports(path):
            level = _stage(imported)
            if level is not None and level > own:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert offenders == []
