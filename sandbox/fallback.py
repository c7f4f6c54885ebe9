"""A sandbox whose backend is replaced mid-run when it goes away, where the user allowed it.

`sandbox.backend: auto` allows the process backend wherever Docker cannot be used, also once a
run is under way; `sandbox.backend: docker` does not. `FallbackSandbox` is what an evaluator
holds for either. It runs every job on its current backend; when a job raises
`SandboxUnavailable` (e.g. the Docker daemon stopped answering; the job was not judged):

- with a fallback allowed, the first such job switches every later job to the fallback and
  re-raises with `retry` set and a one-line `notice` for the user; a job lost on a backend that
  was already replaced re-raises with `retry` set and no notice;
- without one, it re-raises with a message saying the run stops (`retry` unset).

The caller (the controller) keeps the lost job's program pending and, on `retry`, evaluates it
again, on the new backend; otherwise it stops the run with that one line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sandbox.base import Sandbox, SandboxJob, SandboxOutcome, SandboxUnavailable


class FallbackSandbox:
    """Runs jobs on `primary` until it is lost, then on what `fallback` makes (when given)."""

    def __init__(self, primary: Sandbox, fallback: Callable[[], Sandbox] | None, *, setting: str) -> None:
        self._current = primary
        self._lost: list[Sandbox] = []
        self._fallback = fallback
        self._setting = setting  # the sandbox.backend value, named in messages
        self._lock = threading.Lock()

    @property
    def current(self) -> Sandbox:
        return self._current

    @property
    def name(self) -> str:
        return self._current.name

    @property
    def description(self) -> str:
        return str(getattr(self._current, "description", self._current.name))

    def warnings(self) -> list[str]:
        return self._current.warnings()

    def run(self, job: SandboxJob) -> SandboxOutcome:
        backend = self._current
        try:
            return backend.run(job)
        except SandboxUnavailable as lost:
            raise self._replace(backend, lost) from None

    def _replace(self, backend: Sandbox, lost: SandboxUnavailable) -> SandboxUnavailable:
        """The error to raise for a job lost with `backend`, switching to the fallback first."""
        with self._lock:
            if backend is not self._current:  # another job found out first
                return SandboxUnavailable(str(lost), backend=lost.backend, retry=True)
            if self._fallback is None:
                return SandboxUnavailable(
                    f"{lost}; sandbox.backend is {self._setting}, so the run stops (the evaluations in flight "
                    "stay pending): once it answers again, continue with --resume",
                    backend=lost.backend,
                )
            self._lost.append(backend)
            self._current = self._fallback()
            name = self._current.name
        notice = f"{lost}; evaluating on the {name} backend from now on (sandbox.backend {self._setting})"
        return SandboxUnavailable(str(lost), backend=lost.backend, retry=True, notice=notice)

    def cancel_all(self) -> None:
        """Kill every job running now, on the current backend and on any lost one."""
        for backend in (*self._lost, self._current):
            cancel = getattr(backend, "cancel_all", None)
            if cancel is not None:
                cancel()
