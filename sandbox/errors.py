"""The sandbox's own exceptions: it could not run a job, or its backend went away.

Whatever a job does is an outcome, never one of these (sandbox/base.py). They live apart so
that every backend and every caller can import them without importing a backend.
"""

from __future__ import annotations

__all__ = ["SandboxError", "SandboxUnavailable"]


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the job): it could not set up or start the job."""


class SandboxUnavailable(SandboxError):
    """The backend itself is gone (e.g. no Docker daemon answers): the job was not judged, and
    no later job will run on this backend. `str()` is one line.

    `backend` names the lost backend. A sandbox that can replace it (`sandbox.fallback`) says
    so: `retry` (run the job again: another backend took over) and, the first time only,
    `notice` (one line telling the user about the switch).
    """

    def __init__(self, message: str, *, backend: str, retry: bool = False, notice: str | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.retry = retry
        self.notice = notice
