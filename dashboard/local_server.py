"""The lab served on a free localhost port until the block ends: for the browser tests and the README's screenshots."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ["-m", "dashboard"]  # as `make run` serves it


class ServerDidNotStart(RuntimeError):
    """The server exited or never answered; the message holds its log."""


@contextmanager
def serving(env: dict[str, str], log: IO[str], command: list[str] = LAUNCHER, timeout: float = 120) -> Iterator[str]:
    """`python <command> --server.port P --server.address 127.0.0.1` from the repository root, its output in `log`
    (a file open for writing and reading); yields its URL once its health check answers, and stops it after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, *command, "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                log.seek(0)
                raise ServerDidNotStart(f"streamlit did not come up:\n{log.read()}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
