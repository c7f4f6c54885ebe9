"""Streaks of external LLM failures, and the cut that ends proposals at the wall budget or a stop."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent.llm import FailureStreaks, Kind
from agent.proposal_limits import ProposalLimits


def test_three_failures_of_one_external_cause_in_a_row_give_the_stop_line() -> None:
    streaks = FailureStreaks(limit=3)
    error = "openai/m: HTTP 401 authentication failed (check OPENAI_API_KEY)"
    assert streaks.record("openai/m", Kind.AUTH, error) is None
    assert streaks.record("openai/m", Kind.AUTH, error) is None
    line = streaks.record("openai/m", Kind.AUTH, error)
    assert line == f"{error} (3 LLM calls in a row failed this way; the run stops)"


def test_an_answer_in_between_resets_the_streak() -> None:
    streaks = FailureStreaks(limit=2)
    assert streaks.record("m", Kind.CONNECTION) is None
    assert streaks.record("m", None) is None
    assert streaks.record("m", Kind.CONNECTION) is None
    assert streaks.record("m", Kind.CONNECTION) is not None


def test_streaks_are_per_model_and_per_cause() -> None:
    streaks = FailureStreaks(limit=2)
    assert streaks.record("a", Kind.AUTH) is None
    assert streaks.record("b", Kind.AUTH) is None  # another model: its own streak
    assert streaks.record("a", Kind.QUOTA) is None  # another cause: starts over
    assert streaks.record("a", Kind.QUOTA) is not None


@pytest.mark.parametrize("kind", [Kind.TIMEOUT, Kind.RATE_LIMIT, Kind.SERVER, Kind.EMPTY, Kind.OTHER])
def test_transient_failures_never_stop_a_run(kind: str) -> None:
    streaks = FailureStreaks(limit=2)
    assert all(streaks.record("m", kind) is None for _ in range(10))


def test_bounded_returns_the_result_of_work_done_in_time() -> None:
    limits = ProposalLimits(wall_seconds=30, started=time.monotonic)

    async def quick() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert asyncio.run(limits.bounded(quick())) == "done"


def test_bounded_cancels_work_at_the_wall_budget() -> None:
    started = time.monotonic()
    limits = ProposalLimits(wall_seconds=0.5, started=lambda: started)
    cancelled = []

    async def forever() -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "never"

    assert asyncio.run(limits.bounded(forever())) is None
    assert cancelled == [True] and limits.wall_over()
    assert time.monotonic() - started < 10


def test_a_full_streak_stops_the_work_in_flight() -> None:
    limits = ProposalLimits(wall_seconds=None, started=time.monotonic, streaks=FailureStreaks(limit=1))

    async def scenario() -> object:
        hanging = asyncio.create_task(limits.bounded(asyncio.sleep(3600, result="never")))
        await asyncio.sleep(0.05)
        limits.note("m", Kind.AUTH, "m: HTTP 401 authentication failed")
        return await asyncio.wait_for(hanging, 10)

    assert asyncio.run(scenario()) is None
    assert str(limits.failure).startswith("m: HTTP 401 authentication failed (1 LLM call failed this way")
