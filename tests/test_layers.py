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


def test_write_sits_above_playground_and_ratings():
    """core.write uses the Playground's decoder and the ratings store; nothing else in core imports it."""
    importers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if path.parent.name != "write" and any(m.startswith("core.write") for m in _imported_modules(path))
    ]
    assert importers == []
    used = {m for path in (ROOT / "core" / "write").glob("*.py") for m in _imported_modules(path)}
    assert {"core.playground.sampling", "core.ratings.store"} <= used
