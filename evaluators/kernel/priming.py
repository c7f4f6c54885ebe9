"""Primed kernel jobs: a candidate's sandbox job started before the candidate exists.

A kernel job spends seconds before it can look at its candidate: two processes start and import
torch and triton, CUDA and the profiler start (profiler_warmup.py), the reference loads. None
of it depends on the candidate, so the evaluator starts the next job while the current one is
judged (and the LLM writes the next candidate), and hands the candidate to it when it comes
(sandbox/started_job.py: the job's inbox; candidate_inbox.py: the judge's and the candidate's
process wait for it there). Each job still judges exactly one candidate, in fresh processes.

`PrimedJobs` keeps at most `size` such jobs waiting. A job waits `WAIT_S` at most; one that
expired, or that the evaluator no longer needs (`close`), is ended by a `cancel` file in its
inbox (or by its own deadline). Controller side.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from evaluators.kernel.candidate_inbox import CANCEL, CANDIDATE

WAIT_S = 120.0
"""The longest a primed job waits for its candidate; its sandbox time limit grows by as much."""


@dataclass
class Primed:
    job: Any  # sandbox.started_job.StartedJob
    options: dict[str, Any]  # the judge's options it was started with
    gpu: int | None

    def deliver(self, source: str) -> bool:
        """Hand the job its candidate; False when the job ended first (expired or failed to start)."""
        return self.job.deliver({CANDIDATE: source})


class PrimedJobs:
    def __init__(self, size: int, on_drop: Callable[[Primed], None] = lambda primed: None) -> None:
        """`on_drop`: called for each job ended without a candidate (the evaluator undoes what
        it promised that job, e.g. measuring the reference's torch.compile time)."""
        self._size = size
        self._on_drop = on_drop
        self._jobs: list[Primed] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> Primed | None:
        """The oldest job still waiting, or None."""
        while True:
            with self._lock:
                if not self._jobs:
                    return None
                primed = self._jobs.pop(0)
            if not primed.job.ended:
                return primed
            self._on_drop(primed)

    def wants_one(self) -> bool:
        """Whether a job should be started now (expired ones are dropped first)."""
        with self._lock:
            ended = [p for p in self._jobs if p.job.ended]
            self._jobs = [p for p in self._jobs if not p.job.ended]
            wanted = not self._closed and len(self._jobs) < self._size
        for primed in ended:
            self._on_drop(primed)
        return wanted

    def keep(self, primed: Primed) -> None:
        with self._lock:
            if not self._closed and len(self._jobs) < self._size:
                self._jobs.append(primed)
                return
        self.cancel(primed)

    def cancel(self, primed: Primed) -> None:
        primed.job.deliver({CANCEL: ""})
        self._on_drop(primed)

    def close(self) -> None:
        """End every waiting job; none is started after this."""
        with self._lock:
            self._closed = True
            jobs, self._jobs = self._jobs, []
        for primed in jobs:
            self.cancel(primed)
