"""Failures of one external cause in a row, per model: the signal that a run should stop.

A refused key, an exhausted quota, an unknown model, an unreachable server or an endpoint that
answers garbage (`EXTERNAL_KINDS`) will meet every later call to the same model too. After
`limit` such failures in a row from one model (any answer from it in between resets the
count), `record` returns the line the run stops with. Other failures (timeouts, rate limits,
5xx, an edit that did not apply) are not evidence that the next call will fail, and reset
nothing either: they neither start nor break a streak.
"""

from __future__ import annotations

from agent.llm.errors import EXTERNAL_KINDS

DEFAULT_LIMIT = 3


class FailureStreaks:
    """Counts, per model, the external-cause failures of one kind in a row."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._streaks: dict[str, tuple[str, int]] = {}  # model -> (kind, failures in a row)

    def record(self, model: str, kind: str | None, error: str | None = None) -> str | None:
        """Note one call's outcome (`kind` None: it answered); the stop line once a streak is full."""
        if kind is None:
            self._streaks.pop(model, None)
            return None
        if kind not in EXTERNAL_KINDS:
            return None
        previous, count = self._streaks.get(model, (kind, 0))
        count = count + 1 if previous == kind else 1
        self._streaks[model] = (kind, count)
        if count < self._limit:
            return None
        cause = error or f"{model}: {kind}"
        calls = "1 LLM call" if count == 1 else f"{count} LLM calls in a row"
        return f"{cause} ({calls} failed this way; the run stops)"
