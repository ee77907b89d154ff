"""The house rules that keep the three layers apart."""

import ast
import subprocess
import sys

from core.cli import COMMAND_MODULES
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


# Packages that are light enough to import at the top of any module (psutil: ~15 ms, and core.files needs it anyway).
LIGHT_PACKAGES = frozenset({"psutil"})


def _module_level_imports(tree):
    """The modules a file imports when it is imported (not inside functions, not under TYPE_CHECKING)."""
    def visit(body):
        for node in body:
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield node.module
                yield from (f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                yield from visit(node.body)
                yield from visit(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    yield from visit(part)
    return list(visit(tree.body))


def _lab_modules():
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for folder in ("core", "dashboard", "pages") for p in (ROOT / folder).rglob("*.py")}


def _function_imports(tree):
    """Each import statement inside a function, once (a nested function's too)."""
    seen = set()
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in seen:
                    seen.add(node.lineno)
                    yield node


def test_a_lazy_import_buys_start_up_time_and_says_so():
    """An import inside a function is there to keep a heavy library (torch, transformers, datasets, optuna, plotly,
    pandas...) off the start-up path of the command line and the pages; anything else belongs at the top.

    The rule: a function-level import (1) has a comment on its line or on the line above its block of imports (its
    groups, blank lines between them, count as one) saying why it waits, and (2) imports something that costs time:
    not the standard library, and not a lab module
    whose own module-level imports, followed through, reach only the standard library, light packages (psutil) and
    other such lab modules -- unless that module imports the importing one (then the top would be a cycle), or the
    importer is one of the command line's command modules (core.cli.COMMAND_MODULES: `--help` imports them all)."""
    needless, uncommented = lazy_import_findings()
    assert needless == [], "cheap to import: move these to the top of their module"
    assert uncommented == [], "a lazy import says why it waits (a comment on its line or above its block)"


def lazy_import_findings() -> tuple[list[str], list[str]]:
    """(function-level imports of cheap modules, those without a comment), as "path:line ..."."""
    modules = _lab_modules()
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in modules.items()}
    top_level = {name: _module_level_imports(tree) for name, tree in trees.items()}

    def loaded(imported):  # the lab modules an import runs: `core.data.dataset` -> core, core.data, core.data.dataset
        parts = imported.split(".")
        return [m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in modules]

    def reach(module):  # (lab modules, outside packages) a module imports at import time, followed through
        seen, packages, stack = set(), set(), [module]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                for imported in top_level[current]:
                    top = imported.split(".")[0]
                    if top in ("core", "dashboard", "pages"):
                        stack.extend(loaded(imported))
                    elif top not in sys.stdlib_module_names and top != "__future__":
                        packages.add(top)
        return seen, packages

    def cheap(imported, importer):
        top = imported.split(".")[0]
        if top in sys.stdlib_module_names or top in LIGHT_PACKAGES:
            return True
        # A command module imports its command's work when the command runs: `python -m core --help` loads parsers only.
        targets = loaded(imported) if top in ("core", "dashboard") and importer not in COMMAND_MODULES else []
        return bool(targets) and all(
            reach(m)[1] <= LIGHT_PACKAGES and importer not in reach(m)[0] for m in targets)

    uncommented, needless = [], []
    for name, tree in trees.items():
        lines = modules[name].read_text(encoding="utf-8").splitlines()
        imports = list(_function_imports(tree))
        ends = {node.end_lineno: node for node in imports}
        for node in imports:
            where = f"{modules[name].relative_to(ROOT)}:{node.lineno}"
            first = node  # the first of this run of imports (blank lines between groups): its comment covers them all
            while first.lineno - 1 in ends or (not lines[first.lineno - 2].strip() and first.lineno - 2 in ends):
                first = ends.get(first.lineno - 1) or ends[first.lineno - 2]
            if not (lines[first.lineno - 2].strip().startswith("#")
                    or any("#" in line for line in lines[first.lineno - 1:node.end_lineno])):
                uncommented.append(where)
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [f"{node.module}.{alias.name}" for alias in node.names])
            if all(cheap(imported, name) for imported in names):
                needless.append(f"{where} {', '.join(names)}")
    return needless, uncommented
