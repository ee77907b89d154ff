"""core.bench.peak: a child's own peak memory, not its parent's (os.wait4's ru_maxrss carries the parent's size
across fork and exec, which made `bench scale` report the bench process's size for small children)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, core_env

MB = 10**6


def _peak(tmp_path, *command: str) -> int:
    out = tmp_path / "peak"
    subprocess.run([sys.executable, "-m", "core.bench.peak", str(out), *command], cwd=ROOT, env=core_env(), check=True)
    return int(out.read_text())


def test_a_small_child_of_a_large_parent_reports_its_own_peak(tmp_path):
    ballast = bytearray(b"\x01") * (400 * MB)  # resident in this process while the child runs
    small = _peak(tmp_path, "-c", "pass")
    big = _peak(tmp_path, "-c", "import sys; block = bytearray(b'\\x01') * int(sys.argv[1])", str(300 * MB))
    assert len(ballast) == 400 * MB
    assert small < 150 * MB, f"{small / MB:.0f} MB for an empty interpreter"
    assert 300 * MB < big < 450 * MB


def test_a_module_runs_as_main_with_its_arguments_and_its_exit_code(tmp_path):
    out = tmp_path / "peak"
    done = subprocess.run([sys.executable, "-m", "core.bench.peak", str(out), "-m", "core", "bench", "nonsense"],
                          cwd=ROOT, env=core_env(), capture_output=True, text=True)
    assert done.returncode != 0 and "invalid choice: 'nonsense'" in done.stderr  # argparse saw the arguments
    assert int(out.read_text()) > 0  # written on the way out, even when the module fails
