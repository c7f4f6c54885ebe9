"""The loop's proposal side under its limits: a wall budget that cuts LLM calls short, a dollar
budget that keeps what was paid for, and an LLM that cannot be used, which stops the run."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from agent.config import SearchConfig
from agent.controller import Controller
from agent.failures import RunFailed
from agent.llm import Kind
from agent.proposers import BudgetExceeded, Proposal
from archives.map_elites import MapElites
from archives.records import LLMCall, Status
from archives.store import Store
from tests.agent.test_controller import CountingEvaluator


def make_controller(tmp_path, proposer, *, budget=20, workers=2, wall=None):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = store.create_run("t", "t.yaml", "map_elites", 0, {})
    controller = Controller(
        store=store, run_id=run.id, strategy=MapElites(SearchConfig(), random.Random(0)), proposer=proposer,
        evaluator=CountingEvaluator(), evaluations=budget, proposal_workers=workers, evaluation_workers=workers,
        wall_seconds=wall,
    )  # fmt: skip
    return store, run, controller


def run_controller(controller):
    async def main():
        await controller.start("X = 0.0\n")
        return await controller.run()

    return asyncio.run(main())


def failed_call(run_id: str, model: str, error: str) -> LLMCall:
    return LLMCall(id=f"c{time.monotonic_ns()}", run_id=run_id, model=model, prompt="[]", error=error)


class HangingProposer:
    """Never answers, like an LLM server that accepted the request and went silent."""

    def __init__(self):
        self.started = 0
        self.cancelled = 0

    async def propose(self, request, previous_errors=()):
        self.started += 1
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class RefusedProposer:
    """Every call fails the way a refused key does."""

    def __init__(self, kind=Kind.AUTH):
        self.calls = 0
        self.kind = kind
        self.run_id = ""

    async def propose(self, request, previous_errors=()):
        self.calls += 1
        await asyncio.sleep(0.01)
        error = "openai/m: HTTP 401 authentication failed (check OPENAI_API_KEY)"
        return Proposal(None, "llm:openai/m", error=f"LLM call failed: {error}", llm_call=failed_call(self.run_id, "openai/m", error),
                        failure_kind=self.kind)  # fmt: skip


def test_the_wall_budget_cancels_proposals_in_flight(tmp_path):
    proposer = HangingProposer()
    store, run, controller = make_controller(tmp_path, proposer, wall=1.0)
    started = time.monotonic()
    reason = run_controller(controller)
    assert reason == "budget: wall time"
    assert time.monotonic() - started < 15  # not the hour the proposals would have waited
    assert proposer.started == 2 and proposer.cancelled == 2
    assert not store.programs(run.id, [Status.PENDING])


def test_an_llm_refusing_the_key_stops_the_run_with_run_failed(tmp_path):
    proposer = RefusedProposer()
    store, run, controller = make_controller(tmp_path, proposer, workers=4)
    proposer.run_id = run.id
    with pytest.raises(RunFailed) as info:
        run_controller(controller)
    assert str(info.value).startswith("openai/m: HTTP 401 authentication failed (check OPENAI_API_KEY) (3 LLM calls")
    assert 3 <= proposer.calls <= 3 + 4  # the streak, and at most the calls already in flight
    failed = store.programs(run.id, [Status.APPLY_FAILED])
    assert len(failed) == len(store.llm_calls(run.id)) <= proposer.calls
    assert not store.programs(run.id, [Status.PENDING])


def test_transient_llm_failures_do_not_stop_the_run_as_an_unusable_llm(tmp_path):
    """Timeouts are retried, not an external cause that stops the run at once; only the
    fruitless guard ends it, after 40 proposals that gave nothing to evaluate."""
    proposer = RefusedProposer(kind=Kind.TIMEOUT)
    _, run, controller = make_controller(tmp_path, proposer, workers=1)
    proposer.run_id = run.id
    with pytest.raises(RunFailed, match=r"^stopped: the last 40 proposals gave nothing new to evaluate$"):
        run_controller(controller)


class PaidThenBroke:
    """The first two calls are slow and paid for; the third finds the budget spent."""

    def __init__(self):
        self.calls = 0

    async def propose(self, request, previous_errors=()):
        self.calls += 1
        n = self.calls
        if n > 2:
            raise BudgetExceeded(0.9, 1.0, 0.3)
        await asyncio.sleep(0.5)
        return Proposal(f"X = {n}.0\n", "llm:openai/m", diff="d")


def test_answers_paid_for_before_the_dollar_budget_ran_out_are_evaluated(tmp_path):
    store, run, controller = make_controller(tmp_path, PaidThenBroke(), workers=3)
    reason = run_controller(controller)
    assert reason == "budget: dollars ($0.9000 of $1.00 spent; the next call may cost up to $0.3000)"
    sources = {p.source for p in store.programs(run.id, Status.EVALUATED)}
    assert sources == {"X = 0.0\n", "X = 1.0\n", "X = 2.0\n"}
