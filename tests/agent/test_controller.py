"""The loop's bookkeeping with a real store and strategy, and scripted proposer and evaluator."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from agent.config import SearchConfig
from agent.controller import Controller
from agent.failures import RunFailed
from agent.proposers import BudgetExceeded, Proposal, RepeatedFailure
from archives.map_elites import MapElites
from archives.records import EvalResult, Status
from archives.store import Store


class ScriptedProposer:
    """Returns the sources it is given, in order; None means 'the edit did not apply'."""

    def __init__(self, sources, raise_after=None):
        self._sources = list(sources)
        self._count = 0
        self._raise_after = raise_after
        self.previous_errors = []

    async def propose(self, request, previous_errors=()):
        self._count += 1
        self.previous_errors.append(previous_errors)
        if self._raise_after is not None and self._count > self._raise_after:
            raise BudgetExceeded(1.0, 1.0)
        source = self._sources.pop(0) if self._sources else f"X = {self._count}.5\n"
        if source is None:
            return Proposal(None, "llm:test", error="the edit did not apply: nothing matched")
        return Proposal(source, "llm:test", diff="d")


class CountingEvaluator:
    """Fitness is the number in the source; counts calls and the most in flight at once."""

    def __init__(self, delay=0.0):
        self.calls = []
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def evaluate(self, source, *, label="", parent=None):
        with self._lock:
            self.calls.append(source)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        value = float(source.split("=")[1])
        return EvalResult(Status.CORRECT, fitness=value, metrics={"combined_score": value})


def run_loop(tmp_path, proposer, evaluator, *, budget=6, workers=2, wall=None):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = store.create_run("t", "t.yaml", "map_elites", 0, {})
    controller = Controller(
        store=store, run_id=run.id, strategy=MapElites(SearchConfig(), random.Random(0)), proposer=proposer,
        evaluator=evaluator, evaluations=budget, proposal_workers=workers, evaluation_workers=workers,
        wall_seconds=wall,
    )

    async def main():
        await controller.start("X = 0.0\n")
        return await controller.run()

    reason = asyncio.run(main())
    return store, run, reason


def test_budget_is_spent_exactly_and_never_overshot(tmp_path):
    evaluator = CountingEvaluator(delay=0.05)
    store, run, reason = run_loop(tmp_path, ScriptedProposer([]), evaluator, budget=9, workers=3)
    assert reason == "budget: evaluations"
    assert len(evaluator.calls) == 9
    assert store.run_summary(run.id).evaluated == 9
    assert evaluator.max_in_flight <= 3


def test_exact_duplicates_are_recorded_and_not_evaluated(tmp_path):
    evaluator = CountingEvaluator()
    proposer = ScriptedProposer(["X = 1.0\n", "X = 1.0\n", "X = 0.0\n", "X = 2.0\n"])
    store, run, _ = run_loop(tmp_path, proposer, evaluator, budget=4, workers=1)
    assert evaluator.calls.count("X = 1.0\n") == 1 and evaluator.calls.count("X = 0.0\n") == 1
    duplicates = store.programs(run.id, [Status.DUPLICATE])
    assert len(duplicates) == 2
    assert all(d.error.startswith("same source as program") for d in duplicates)


def test_failed_edits_are_stored_and_shown_to_the_next_proposal_for_that_parent(tmp_path):
    proposer = ScriptedProposer([None, "X = 3.0\n"])
    store, run, _ = run_loop(tmp_path, proposer, CountingEvaluator(), budget=3, workers=1)
    failed = store.programs(run.id, [Status.APPLY_FAILED])
    assert len(failed) == 1 and failed[0].source == "" and "did not apply" in failed[0].error
    assert proposer.previous_errors[1] == (failed[0].error,)


def test_a_run_of_fruitless_proposals_fails_the_run_with_one_line(tmp_path):
    proposer = ScriptedProposer([None] * 100)
    with pytest.raises(RunFailed, match=r"^stopped: the last 40 proposals gave nothing new to evaluate$"):
        run_loop(tmp_path, proposer, CountingEvaluator(), budget=10, workers=1)
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        run = store.list_runs()[0].run
        assert store.run_summary(run.id).evaluated == 1
        assert len(store.programs(run.id, [Status.APPLY_FAILED])) == 40


def test_the_tuner_alone_running_out_of_values_ends_the_run_without_failing_it(tmp_path):
    """No LLM, nothing paid: a tuner that has nothing untried left has searched its space."""
    from agent.config import Tunable
    from agent.proposers import TunerProposer
    from agent.tuner import Tuner

    tuner = TunerProposer(Tuner({"X": Tunable(choices=(0.0, 1.0))}, random.Random(0)))
    store, run, reason = run_loop(tmp_path, tuner, CountingEvaluator(), budget=10, workers=1)
    assert reason == "stopped: the tuner found nothing untried in its last 40 proposals"
    assert store.run_summary(run.id).evaluated == 2


GIVING_UP = "stopped: 5 proposals in a row for program ab12cd34 ended in build failures"


class GivingUpProposer(ScriptedProposer):
    """Proposes `good` children, then says the failure memory has nothing left to change."""

    def __init__(self, good):
        super().__init__([])
        self._good = good

    async def propose(self, request, previous_errors=()):
        if self._count >= self._good:
            raise RepeatedFailure(GIVING_UP)
        return await super().propose(request, previous_errors)


def test_a_failure_memory_with_nothing_left_to_change_fails_the_run_after_the_queued_evaluations(tmp_path):
    evaluator = CountingEvaluator(delay=0.2)
    with pytest.raises(RunFailed) as failed:
        run_loop(tmp_path, GivingUpProposer(3), evaluator, budget=20, workers=1)
    assert str(failed.value) == GIVING_UP
    assert len(evaluator.calls) == 4  # the initial program and the three children proposed before the stop


def test_dollar_budget_stops_proposals(tmp_path):
    proposer = ScriptedProposer([], raise_after=3)
    store, run, reason = run_loop(tmp_path, proposer, CountingEvaluator(), budget=50, workers=2)
    assert reason.startswith("budget: dollars ($1.0000 of $1.00 spent")
    assert store.run_summary(run.id).evaluated == 4  # the initial program and three children


def test_wall_clock_budget_stops_proposals(tmp_path):
    store, run, reason = run_loop(tmp_path, ScriptedProposer([]), CountingEvaluator(delay=0.2), budget=500, wall=0.5)
    assert reason == "budget: wall time"
    assert store.run_summary(run.id).evaluated < 20
    assert not store.programs(run.id, [Status.PENDING])


def test_strategy_snapshot_is_stored_with_the_run(tmp_path):
    store, run, _ = run_loop(tmp_path, ScriptedProposer([]), CountingEvaluator(), budget=3)
    state = store.strategy_state(run.id)
    assert state["kind"] == "map_elites" and state["elites"]
