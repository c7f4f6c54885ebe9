"""What cuts the proposal stage short: the wall budget, and an LLM that cannot be used.

The controller awaits each proposal through `ProposalLimits.bounded`: when the wall budget runs
out or the run must stop, the proposal still being made (with the LLM call in it, even one
waiting on a server that never answers) is cancelled and `bounded` returns None. `note` feeds
every LLM call's outcome to the streaks of external failures (agent/llm/streaks.py); when one
is full the run must stop: `failure` is then the `RunFailed` it ends with, and the proposals
in flight are cancelled (their calls would fail the same way).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agent.failures import RunFailed
from agent.llm.streaks import FailureStreaks

T = TypeVar("T")


class ProposalLimits:
    """The wall deadline (from `started()`, monotonic seconds) and the stop of a failing run."""

    def __init__(self, wall_seconds: float | None, started: Callable[[], float], streaks: FailureStreaks | None = None):
        self._wall_seconds = wall_seconds
        self._started = started
        self._streaks = streaks or FailureStreaks()
        self._stop = asyncio.Event()
        self.failure: RunFailed | None = None

    def wall_left(self) -> float | None:
        """Seconds left of the wall budget (None: no wall budget; never below 0)."""
        if self._wall_seconds is None:
            return None
        return max(0.0, self._started() + self._wall_seconds - time.monotonic())

    def wall_over(self) -> bool:
        left = self.wall_left()
        return left is not None and left <= 0

    def note(self, model: str, kind: str | None, error: str | None) -> None:
        """One LLM call's outcome (`kind` None: it answered); stops the run when a streak is full."""
        line = self._streaks.record(model, kind, error)
        if line is not None and self.failure is None:
            self.failure = RunFailed(line)
            self._stop.set()

    async def bounded(self, work: Awaitable[T]) -> T | None:
        """`work`'s result, or None if the wall budget ran out or the run stopped first (then
        `work` is cancelled and waited for, so no LLM call outlives it)."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait({task, stopped}, timeout=self.wall_left(), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the worker itself is cancelled (Ctrl-C)
            task.cancel()
            raise
        finally:
            stopped.cancel()
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return None
