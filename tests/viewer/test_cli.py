"""`agent view` and `agent report` as a user runs them: the URL printed, mistakes in one line
with exit code 2, and the default address 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.viewer.conftest import ViewerProcess
from tests.viewer.run_fixture import FilledStore


def agent(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses listening on `port`, from /proc/net/tcp (and any IPv6 listener)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else "ipv6:" + address)
    return found


def test_view_prints_its_url_binds_loopback_and_serves_the_runs(filled: FilledStore, tmp_path):
    server = ViewerProcess(filled.url, tmp_path)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "api/runs", timeout=10) as response:
            assert response.status == 200 and b"quadratic" in response.read()
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        server.stop()


def test_view_finds_the_stores_under_runs_by_default(filled: FilledStore):
    server = ViewerProcess.__new__(ViewerProcess)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    server.proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "view", "--port", "0"], cwd=filled.folder,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        line = server.proc.stdout.readline()
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/runs", timeout=10) as response:
            assert response.read().count(b'"task":"quadratic"') == 2
    finally:
        server.stop()


def test_view_mistakes_are_one_line_with_exit_code_2(tmp_path):
    missing = agent("view", "--db", f"sqlite:///{tmp_path / 'nope.db'}", cwd=tmp_path)
    assert missing.returncode == 2 and "no store at" in missing.stderr and missing.stderr.count("\n") == 1
    assert not (tmp_path / "nope.db").exists()  # the viewer never creates a database
    nothing = agent("view", cwd=tmp_path)
    assert nothing.returncode == 2 and "no store found" in nothing.stderr


def test_view_on_a_port_in_use_says_so_in_one_line(filled: FilledStore, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = agent("view", "--db", filled.url, "--port", str(port), cwd=tmp_path)
    assert proc.returncode == 2 and f"cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert proc.stderr.count("\n") == 1
