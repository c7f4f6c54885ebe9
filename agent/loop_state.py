"""What the evolution loop (agent/controller.py) shares with its callers: the protocol of the
progress reporter (the evaluator's is evaluators/base.py's, re-exported), and the counters the
loop keeps while it runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from archives.records import Program
from evaluators.base import Evaluator  # noqa: F401 - re-exported for the controller

class Reporter(Protocol):
    """Receives progress events; the CLI draws them, tests may record them."""

    def evaluated(self, program: Program, state: "LoopState") -> None:
        ...

    def message(self, text: str) -> None:
        ...


class SilentReporter:
    def evaluated(self, program: Program, state: "LoopState") -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class LoopState:
    """Counters the loop keeps while it runs (the store holds the truth)."""

    budget: int
    evaluated: int = 0
    reserved: int = 0  # proposals under way or queued that may become evaluations
    proposing: int = 0  # proposals under way (the rest of `reserved` is queued or being evaluated)
    best_fitness: float | None = None
    spent: float = 0.0
    started: float = 0.0
    stop_reason: str | None = None
    fruitless: int = 0  # proposals in a row that produced nothing to evaluate
    judge_errors: int = 0  # evaluations that failed on the evaluator's side (not counted against programs)

    @property
    def evals_per_minute(self) -> float:
        elapsed = time.monotonic() - self.started
        return 60.0 * self.evaluated / elapsed if elapsed > 0 else 0.0
