"""The result channel: how a trusted harness inside a job hands its result to the sandbox.

The sandbox makes a pipe, passes its write end to the job, and names the descriptor in the
environment variable `EVOFORGE_RESULT_FD`. The harness calls `open_result_channel()` before it
imports or runs anything untrusted: that removes the variable, makes the descriptor
non-inheritable (so programs the harness or the user's evaluator start never receive it) and
marks the harness process non-dumpable. It later calls `ResultChannel.send(payload)` once; the
sandbox returns the bytes in `SandboxOutcome.result`. Nothing a job prints is ever parsed.

The harness sees the same thing under both backends. In the process backend the pipe's read
end is the controller's; in the Docker backend, where no descriptor crosses into a container,
it is the container's init (pid 1, non-dumpable), which signs what it read with an HMAC key
the host sent it on stdin for that job alone (see `sandbox._dockerinit`).

This module runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

ENV_VAR = "EVOFORGE_RESULT_FD"
MAX_RESULT_BYTES = 8 * 1024 * 1024  # the sandbox keeps at most this much of a result

_PR_SET_DUMPABLE = 4


class ChannelError(RuntimeError):
    """The result channel is missing, already used, or the payload cannot be sent."""


class ResultChannel:
    """The write end of the result pipe; `send` writes one JSON document and closes it."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def send(self, payload: dict[str, Any]) -> None:
        """Write `payload` as one JSON document (NaN and infinities refused) and close."""
        if self._fd is None:
            raise ChannelError("the result channel was already used")
        data = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_RESULT_BYTES:
            raise ChannelError(f"result of {len(data)} bytes is over the {MAX_RESULT_BYTES}-byte limit")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        finally:
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass


def open_result_channel() -> ResultChannel:
    """Take over the descriptor named by EVOFORGE_RESULT_FD; call it before untrusted code runs.

    Raises ChannelError when the variable is missing or names no open descriptor.
    """
    raw = os.environ.pop(ENV_VAR, None)
    if raw is None:
        raise ChannelError(f"{ENV_VAR} is not set: run this under an evoforge sandbox")
    try:
        fd = int(raw)
        os.fstat(fd)
    except (ValueError, OSError):
        raise ChannelError(f"{ENV_VAR}={raw!r} names no open file descriptor") from None
    os.set_inheritable(fd, False)
    set_non_dumpable()
    return ResultChannel(fd)


def set_non_dumpable() -> bool:
    """Mark this process non-dumpable (Linux prctl PR_SET_DUMPABLE 0); True if it took.

    What it protects: a process of the same user *without* CAP_SYS_PTRACE can no longer open
    /proc/<this pid>/fd/N, read /proc/<this pid>/mem or environ, or ptrace this process, so a
    candidate program started from here cannot reach the result descriptor that way. The
    process backend runs jobs without capabilities, which makes this hold even for uid 0.

    What it does not protect: a process with CAP_SYS_PTRACE (real root with capabilities)
    still can; code that runs *inside* this process (an evaluator that imports the candidate
    instead of running it as a subprocess) has the channel object within reach; a child can
    still kill this process (then no result arrives, which the sandbox reports as such).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def decode_result(data: bytes | None) -> dict[str, Any] | None:
    """Parse the bytes a sandbox returned; None when there were none.

    Raises ValueError (one readable line) when the bytes are not one JSON object.
    """
    if not data:
        return None
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the result channel held no valid JSON document ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"the result channel held a JSON {type(value).__name__}, not an object")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
