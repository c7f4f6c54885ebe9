"""A Docker daemon of a test's own, on a private socket, that the test may stop at will.

Tests of a daemon going away must never stop the machine's shared daemon (other tests use it).
`PrivateDockerd` runs `dockerd` with its own socket, data root, exec root and pid file, no
bridge and no iptables rules (sandbox jobs have no network). `environ` points a client at it
(DOCKER_HOST). `stop(signal.SIGTERM)` is `systemctl stop docker` (it stops its containers
first, about ten seconds here); `stop(signal.SIGKILL)` is a crash: its containers' shims
outlive it, so `close()` starts it once more (which stops them) and stops it cleanly.

Needs root and the `dockerd` binary; `private_dockerd()` (a context manager) skips without
them, or fails where EVOFORGE_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_START_SECONDS = 60.0
_STOP_SECONDS = 60.0


class PrivateDockerd:
    def __init__(self) -> None:
        # Short and under /tmp: a unix socket's path must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="evoforge-dockerd-", dir="/tmp"))
        self.socket = self.root / "d.sock"
        self.host = f"unix://{self.socket}"
        self._proc: subprocess.Popen | None = None
        self._crashed = False

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def start(self) -> None:
        root = self.root
        argv = ["dockerd", "--host", self.host, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
                "--pidfile", str(root / "dockerd.pid"), "--bridge=none", "--iptables=false", "--ip6tables=false"]
        with open(root / "dockerd.log", "ab") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + _START_SECONDS
        while not self.answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text(errors="replace").strip().splitlines()[-3:]
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"the private dockerd did not start: {' | '.join(tail)}")
            time.sleep(0.3)
        self._crashed = False

    def answers(self) -> bool:
        done = subprocess.run(["docker", "--host", self.host, "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, timeout=30)
        return done.returncode == 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the daemon and wait until it is gone."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            sig = signal.SIGKILL
        self._crashed = self._crashed or sig == signal.SIGKILL

    def close(self) -> None:
        """Stop the daemon and whatever a crash of it left running; remove its folders."""
        self.stop(signal.SIGTERM)
        if self._crashed:
            self._wait_for_exit(self._containerd_pid())  # the crashed daemon's containerd, on its way out
            try:
                self.start()  # takes over the containers the crash left and stops them
            except RuntimeError:
                pass
            self.stop(signal.SIGTERM)
            for pid in self._leftovers():  # if the restart could not: the shims of its containers
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(f"{self.root}/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _containerd_pid(self) -> int | None:
        try:
            return int((self.root / "exec" / "containerd" / "containerd.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _wait_for_exit(pid: int | None, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while pid is not None and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)

    def _leftovers(self) -> list[int]:
        """Processes whose command line names this daemon's folder (its containerd and shims)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if str(self.root).encode() in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    pass
        return found


def private_dockerd_or_skip() -> PrivateDockerd:
    """A started private daemon, or a skip (a failure where EVOFORGE_REQUIRE_DOCKER=1)."""
    problem = None
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        problem = "no dockerd/docker binary"
    elif os.geteuid() != 0:
        problem = "a private dockerd needs root"
    daemon = None
    if problem is None:
        daemon = PrivateDockerd()
        try:
            daemon.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            daemon.close()
            problem = str(exc)
    if problem is not None:
        message = f"!!! NO PRIVATE DOCKER DAEMON: the Docker-loss tests did NOT run ({problem}) !!!"
        if os.environ.get("EVOFORGE_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return daemon


@contextmanager
def private_dockerd() -> Iterator[PrivateDockerd]:
    """A started private daemon for the block (skips or fails as `private_dockerd_or_skip`)."""
    daemon = private_dockerd_or_skip()
    try:
        yield daemon
    finally:
        daemon.close()
