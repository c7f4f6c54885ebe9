"""The host's side of a Docker-sandbox container: its attach connection, and one job on it.

A `Container` is started attached (stdin, stdout, stderr) and serves jobs one after another:
for each, the host writes a header (with the job's HMAC key) to the init's stdin and reads the
framed output back until the signed report (see `sandbox._dockerinit`). The connection stays
open between jobs; it is the lifeline too: when this process goes away Docker closes the
container's stdin and the init stops everything. The wall clock is enforced inside by the init
and here as a backstop (the container is killed).
"""

from __future__ import annotations

import select
import time

from sandbox._docker_daemon import daemon_errors
from sandbox._docker_stream import STDERR, STDOUT, DockerDemux, FrameReader, StreamError, verify_report
from sandbox.base import SandboxError, SandboxJob, SandboxOutcome
from sandbox.channel import MAX_RESULT_BYTES
from sandbox.process import _Capture

FLOOD_FACTOR = 50  # as the process backend: killed once it printed this many times its cap
HOST_GRACE = 5.0  # the host kills the container this long after the job's own wall clock
_DRAIN = 2.0  # after a kill from here: how long to wait for the stream to end
_READ_CHUNK = 1 << 16


class Container:
    """A started container and its attach connection. Not thread-safe: one job at a time."""

    def __init__(self, api, container_id: str, settings: tuple) -> None:
        self.api, self.id, self.settings = api, container_id, settings
        self.sock = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self.raw = getattr(self.sock, "_sock", self.sock)
        self.demux, self.frames = DockerDemux(), FrameReader()
        self.init_err = _Capture(4096)  # the init's own complaints (the container's stderr)
        self.jobs = 0
        try:
            api.start(container_id)
        except Exception:
            self.close()
            raise

    def kill(self) -> None:
        try:
            self.api.kill(self.id)
        except daemon_errors():
            pass  # already stopped, or gone (with the daemon, maybe: the caller finds out)

    def state(self) -> dict:
        import docker.errors

        try:
            return self.api.inspect_container(self.id)["State"]
        except docker.errors.APIError:
            return {}  # already removed (auto-remove after it stopped)

    def close(self) -> None:
        """Close the connection (the init stops) and remove the container; never raises."""
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.api.remove_container(self.id, force=True)
        except daemon_errors():
            pass  # gone already (with the daemon, maybe), or left for remove_orphans at the next start


class ContainerRun:
    """One job on a container; `cancel` may be called from another thread."""

    def __init__(self, container: Container, job: SandboxJob) -> None:
        self.container, self.job = container, job
        self.killed_reason: str | None = None  # set by the host: timeout | output | cancelled
        self.report: dict | None = None
        self.stream_error: str | None = None
        self.out = _Capture(job.limits.output_bytes)
        self.err = _Capture(job.limits.output_bytes)

    @property
    def reusable(self) -> bool:
        """Whether the container may serve another job: it ended this one cleanly and knows OOMs."""
        report = self.report
        return (self.killed_reason is None and self.stream_error is None and report is not None
                and report.get("clean") is True and report.get("oom") is not None
                and report["status"].get("killed") != "lost")

    def cancel(self) -> None:
        self.kill("cancelled")

    def kill(self, reason: str) -> None:
        if self.killed_reason is None:
            self.killed_reason = reason
        self.container.kill()

    def execute(self, header: bytes, key: bytes) -> SandboxOutcome:
        start = time.monotonic()
        self.container.jobs += 1
        try:
            if self.killed_reason == "cancelled":
                self.container.kill()
            self.container.raw.sendall(header)
            self._pump(start, key)
        except OSError as exc:
            if self.killed_reason is None:
                raise SandboxError(f"lost the connection to the container: {exc}") from None
        return self._outcome(time.monotonic() - start)

    def _pump(self, start: float, key: bytes) -> None:
        """Read the container's stream until this job's report, the end, or the deadline."""
        limits, raw = self.job.limits, self.container.raw
        deadline = start + limits.wall_seconds + HOST_GRACE
        flood = FLOOD_FACTOR * limits.output_bytes
        give_up: float | None = None
        while self.report is None:
            now = time.monotonic()
            if self.killed_reason is None and now >= deadline:
                self.kill("timeout")
            if self.killed_reason is not None and give_up is None:
                give_up = now + _DRAIN
            if give_up is not None and now >= give_up:
                return
            ready, _, _ = select.select([raw], [], [], max(0.0, (give_up or deadline) - now))
            if not ready:
                continue
            data = raw.recv(_READ_CHUNK)
            if not data:
                if self.container.frames.pending and self.stream_error is None:
                    self.stream_error = "the container's output ended in the middle of a frame"
                return
            for stream, chunk in self.container.demux.feed(data):
                if stream == STDERR:
                    self.container.init_err.feed(chunk)
                elif stream == STDOUT and self.stream_error is None:
                    self._frames(chunk, key)
            if self.killed_reason is None and self.out.total + self.err.total > flood:
                self.kill("output")

    def _frames(self, chunk: bytes, key: bytes) -> None:
        try:
            for kind, payload in self.container.frames.feed(chunk):
                if self.report is not None:
                    raise StreamError("output after the final report")
                if kind == b"o":
                    self.out.feed(payload)
                elif kind == b"e":
                    self.err.feed(payload)
                else:
                    self.report = verify_report(key, payload)
        except StreamError as exc:
            self.stream_error = str(exc)
            self.report = None

    def _oom(self) -> bool:
        if self.report is not None and self.report.get("oom") is not None:
            return bool(self.report["oom"])
        return bool(self.container.state().get("OOMKilled"))

    def _ended(self) -> tuple[int | None, str | None]:
        """(exit code, why it was killed) from the init's signed report, else the container's state."""
        status = self.report["status"] if self.report else None
        if status is not None and "setup_error" in status:
            raise SandboxError(f"the job's container could not be set up: {status['setup_error']}")
        if self.killed_reason is not None:
            return None, self.killed_reason
        if status is None:
            if self._oom():
                return None, "memory"
            why = self.stream_error or "the container ended without a verdict"
            init = self.container.init_err.text().strip().splitlines()
            tail = f": {init[-1][:300]}" if init else ""
            return None, f"lost: {why} (exit status {self.container.state().get('ExitCode')}){tail}"
        if "exit" in status:
            return int(status["exit"]), None
        if "signal" in status:
            sig = int(status["signal"])
            return None, "memory" if sig == 9 and self._oom() else f"signal {sig}"
        killed = str(status.get("killed", "lost"))
        return None, "memory" if killed == "lost" and self._oom() else killed

    def _outcome(self, seconds: float) -> SandboxOutcome:
        exit_code, reason = self._ended()
        result = self.report.get("result") if self.report else None
        stderr = self.err.text()
        if self.report and self.report.get("result_overflow"):
            stderr += f"\n[sandbox: the result was over {MAX_RESULT_BYTES} bytes and was dropped]\n"
        return SandboxOutcome(
            exit_code=exit_code,
            result=result or None,
            stdout=self.out.text(),
            stderr=stderr,
            timed_out=reason == "timeout",
            killed_reason=reason,
            output_truncated=self.out.truncated or self.err.truncated,
            seconds=seconds,
            backend="docker",
        )
