"""A process's own peak resident memory, for benchmarks and memory tests.

    python -m core.bench.peak OUT -m module [args...]   run `module` as __main__, then write its peak RSS to OUT
    python -m core.bench.peak OUT -c code [args...]     the same for a snippet

The figure is VmHWM from /proc/self/status, read inside the process just before it ends. A parent cannot get it
from os.wait4: ru_maxrss survives fork and exec (Linux keeps the larger of the old and the new memory's high-water
marks), so a child of a large parent reports the parent's size. exec starts a fresh memory map with a fresh VmHWM.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux: VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise OSError("no VmHWM in /proc/self/status: peak RSS is measured on Linux only")


def main(argv: list[str]) -> None:
    out, kind, target, *rest = argv
    sys.argv = [target, *rest]
    try:
        if kind == "-m":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        elif kind == "-c":
            exec(compile(target, "<peak>", "exec"), {"__name__": "__main__"})
        else:
            raise SystemExit(f"error: expected -m module or -c code after the output file, got {kind!r}")
    finally:
        Path(out).write_text(str(peak_rss_bytes()), encoding="ascii")


if __name__ == "__main__":
    main(sys.argv[1:])
