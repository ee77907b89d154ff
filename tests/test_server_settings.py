"""The server listens where the README says, wherever it is started from (issue 20, item 3): the lab's Streamlit
settings live beside the app (dashboard/.streamlit/config.toml, Streamlit's script-level config), so loopback only
and no usage statistics apply from any directory, over a config.toml in that directory; a flag still wins."""

from __future__ import annotations

import socket
import subprocess
import sys

import psutil
import pytest

from dashboard.local_server import healthy
from tests.conftest import core_env, poll


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_python_m_dashboard_from_another_directory_listens_on_loopback_only(workspace, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ".streamlit").mkdir(parents=True)  # a project of the user's that wants the opposite
    (elsewhere / ".streamlit" / "config.toml").write_text(
        '[server]\naddress = "0.0.0.0"\n[browser]\ngatherUsageStats = true\n', encoding="utf-8")
    port, log = _free_port(), tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "dashboard", "--server.port", str(port)], cwd=elsewhere,
                                  env=core_env(QUILL_HOME=str(workspace.root)), stdout=out, stderr=subprocess.STDOUT)
    try:
        poll(lambda: healthy(f"http://127.0.0.1:{port}") or server.poll() is not None, timeout=180)
        assert server.poll() is None, log.read_text()
        listening = {c.laddr.ip for p in [psutil.Process(server.pid), *psutil.Process(server.pid).children(True)]
                     for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}
        printed = log.read_text()
        assert "Network URL" not in printed and "usage statistics" not in printed, printed
    finally:
        server.terminate()
        server.wait(timeout=30)
