"""The Docker daemon going away: the Docker backend says so with `SandboxUnavailable` (one line,
never an outcome the candidate would be blamed for), and `FallbackSandbox` moves to the process
backend only where the user allowed it (sandbox.backend: auto)."""

from __future__ import annotations

import http.server
import json
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox import DockerSandbox, FallbackSandbox, ProcessSandbox, SandboxError, SandboxJob, SandboxUnavailable
from sandbox.base import Limits, SandboxOutcome
from tests.sandbox.private_dockerd import PrivateDockerd, private_dockerd

PY = sys.executable


@pytest.fixture
def dockerd() -> Iterator[PrivateDockerd]:
    """A Docker daemon of this test's own, which it may stop (never the machine's shared one)."""
    with private_dockerd() as daemon:
        yield daemon


@pytest.fixture
def dead_socket(tmp_path, monkeypatch):
    """DOCKER_HOST names a socket file that nothing listens on (a daemon that died)."""
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.close()  # bound, never listening: connecting is refused
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    return path


def test_a_docker_sandbox_whose_daemon_is_gone_raises_sandbox_unavailable_in_one_line(dead_socket):
    with pytest.raises(SandboxUnavailable) as raised:
        DockerSandbox().run(SandboxJob(argv=(PY, "-c", "pass")))
    lost = raised.value
    assert isinstance(lost, SandboxError) and lost.backend == "docker" and not lost.retry
    assert str(lost) == f"the Docker daemon stopped answering (unix://{dead_socket}: Connection refused)"


def test_a_second_daemon_gets_the_local_image_although_the_first_has_it(dockerd, monkeypatch):
    first = DockerSandbox()  # the machine's daemon: imports (or finds) the local image
    try:
        assert first.run(SandboxJob(argv=(PY, "-c", "print('up')"))).stdout == "up\n"
    finally:
        first.cancel_all()
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)  # a fresh daemon, without that image
    second = DockerSandbox()
    try:
        assert second.run(SandboxJob(argv=(PY, "-c", "print('up')"))).stdout == "up\n"
    finally:
        second.cancel_all()


def test_a_job_in_flight_when_the_daemon_dies_is_lost_not_judged(dockerd, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    sandbox = DockerSandbox()
    assert sandbox.run(SandboxJob(argv=(PY, "-c", "print('up')"))).stdout == "up\n"
    started = threading.Event()
    raised: list[BaseException] = []
    outcomes: list[SandboxOutcome] = []

    def slow_job() -> None:
        started.set()
        try:
            outcomes.append(sandbox.run(SandboxJob(argv=(PY, "-c", "import time; time.sleep(60)"),
                                                   limits=Limits(wall_seconds=90))))
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            raised.append(exc)

    worker = threading.Thread(target=slow_job)
    worker.start()
    started.wait()
    time.sleep(3)  # the job is running in its container
    dockerd.stop(signal.SIGKILL)
    worker.join(timeout=45)
    assert not worker.is_alive(), "the job in flight was not given up when the daemon died"
    assert outcomes == [] and len(raised) == 1, (outcomes, raised)
    lost = raised[0]
    assert isinstance(lost, SandboxUnavailable) and "\n" not in str(lost)
    assert str(lost).startswith(f"the Docker daemon stopped answering ({dockerd.host}: ")
    with pytest.raises(SandboxUnavailable, match="stopped answering"):  # and the next job too
        sandbox.run(SandboxJob(argv=(PY, "-c", "pass")))
    sandbox.cancel_all()  # at exit too: never raises on a dead daemon


class _Backend:
    """A backend that runs jobs (as the process backend) until it is gone; the jobs in flight
    then all meet the loss at once (`in_flight` of them)."""

    name = "docker"

    def __init__(self, in_flight: int = 1) -> None:
        self.gone = False
        self.cancelled = 0
        self._together = threading.Barrier(in_flight)

    def warnings(self) -> list[str]:
        return []

    def run(self, job: SandboxJob) -> SandboxOutcome:
        if self.gone:
            self._together.wait(timeout=30)
            raise SandboxUnavailable("the Docker daemon stopped answering (test: gone)", backend="docker")
        return ProcessSandbox().run(job)

    def cancel_all(self) -> None:
        self.cancelled += 1


def test_auto_moves_to_the_fallback_once_and_announces_it_once():
    primary = _Backend(in_flight=2)
    sandbox = FallbackSandbox(primary, ProcessSandbox, setting="auto")
    job = SandboxJob(argv=(PY, "-c", "print(1)"))
    assert sandbox.run(job).stdout == "1\n" and sandbox.name == "docker"
    primary.gone = True
    lost: list[SandboxUnavailable] = []

    def in_flight() -> None:
        try:
            sandbox.run(job)
        except SandboxUnavailable as exc:
            lost.append(exc)

    threads = [threading.Thread(target=in_flight) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(lost) == 2 and all(exc.retry for exc in lost)  # both are to be run again
    notices = [exc.notice for exc in lost if exc.notice]
    assert notices == [
        "the Docker daemon stopped answering (test: gone); evaluating on the process backend from now on "
        "(sandbox.backend auto)"
    ]
    assert sandbox.name == "process" and isinstance(sandbox.current, ProcessSandbox)
    outcome = sandbox.run(job)
    assert outcome.exit_code == 0 and outcome.stdout == "1\n" and outcome.backend == "process"
    sandbox.cancel_all()
    assert primary.cancelled == 1  # the lost backend's jobs are cancelled too


def test_docker_does_not_fall_back_and_says_the_run_stops():
    primary = _Backend()
    sandbox = FallbackSandbox(primary, None, setting="docker")
    primary.gone = True
    with pytest.raises(SandboxUnavailable) as raised:
        sandbox.run(SandboxJob(argv=(PY, "-c", "pass")))
    assert not raised.value.retry and raised.value.notice is None
    assert str(raised.value) == (
        "the Docker daemon stopped answering (test: gone); sandbox.backend is docker, so the run stops "
        "(the evaluations in flight stay pending): once it answers again, continue with --resume"
    )
    assert sandbox.current is primary  # nothing was switched


class _RefusingDaemon(socketserver.ThreadingUnixStreamServer):
    """A daemon that answers pings and questions but refuses to create a container with
    `status` (a server error is the daemon's own failure; a client error is about the job)."""

    daemon_threads = True

    def __init__(self, path: str, status: int) -> None:
        self.status = status
        super().__init__(path, _RefusingHandler)


class _RefusingHandler(http.server.BaseHTTPRequestHandler):
    def address_string(self) -> str:  # a unix socket's peer has no host
        return "local"

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path.endswith("/_ping"):
            self._answer(200, "OK")
        elif path.endswith("/version"):
            self._answer(200, {"ApiVersion": "1.41", "Version": "20.10"})
        elif path.endswith("/containers/json"):
            self._answer(200, [])
        else:  # /info, /images/<tag>/json
            self._answer(200, {})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(self.server.status, {"message": "no space left on device" if self.server.status >= 500
                                          else "Minimum memory limit allowed is 6MB"})


@pytest.mark.parametrize("status", [500, 400])
def test_a_daemon_that_refuses_the_container_is_unavailable_only_for_its_own_failures(tmp_path, monkeypatch, status):
    path = tmp_path / "docker.sock"
    server = _RefusingDaemon(str(path), status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        with pytest.raises(SandboxError) as raised:
            DockerSandbox().run(SandboxJob(argv=(PY, "-c", "pass")))
    finally:
        server.shutdown()
        server.server_close()
    error = raised.value
    assert "\n" not in str(error)
    if status == 500:
        assert isinstance(error, SandboxUnavailable) and error.backend == "docker"
        assert str(error).startswith("the Docker daemon failed (cannot create the job's container: 500 Server Error")
        assert str(error).endswith('("no space left on device"))')
    else:
        assert not isinstance(error, SandboxUnavailable)
        assert str(error).startswith("cannot create the job's container: 400 Client Error")
