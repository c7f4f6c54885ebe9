"""The loop's novelty rejection before evaluation and its repeat evaluations, on a real store."""

from __future__ import annotations

import asyncio
import random
import threading

from agent.config import PQConfig, SearchConfig
from agent.controller import Controller
from archives.baselines import Greedy
from archives.novelty import NoveltyIndex
from archives.pq import PriorityQueue
from archives.records import EvalResult, StageResult, Status
from archives.repeats import FITNESS_EVALS
from archives.store import Store
from tests.agent.test_controller import CountingEvaluator, ScriptedProposer


class Recording:
    """Wraps a strategy and records every request it hands out and every one discarded."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name
        self.asked, self.discarded, self.told = [], [], []

    def ask(self, n):
        requests = self.inner.ask(n)
        self.asked += requests
        return requests

    def tell(self, program):
        self.told.append(program)
        return self.inner.tell(program)

    def rebuild(self, programs):
        self.inner.rebuild(programs)

    def best(self):
        return self.inner.best()

    def discard(self, request):
        self.discarded.append(request)
        if hasattr(self.inner, "discard"):
            self.inner.discard(request)


class NoisyEvaluator:
    """Fitness is the number in the source plus +0.5, -0.5, +0.5, ... by call."""

    def __init__(self):
        self.calls = []
        self._lock = threading.Lock()

    def evaluate(self, source, *, label="", parent=None):
        with self._lock:
            self.calls.append(source)
            sign = 1 if len(self.calls) % 2 else -1
        value = float(source.split("=")[1].split("#")[0]) + 0.5 * sign
        return EvalResult(Status.CORRECT, fitness=value, metrics={"combined_score": value},
                          stages=(StageResult("score", True, message=f"{value}"),))


def run(tmp_path, strategy, proposer, evaluator, *, budget, novelty=None, workers=1, start="X = 0.0\n", store=None):
    store = store or Store(f"sqlite:///{tmp_path / 's.db'}")
    runs = store.list_runs()
    run_id = runs[0].run.id if runs else store.create_run("t", "t.yaml", strategy.name, 0, {}).id
    controller = Controller(
        store=store, run_id=run_id, strategy=strategy, proposer=proposer, evaluator=evaluator,
        evaluations=budget, proposal_workers=workers, evaluation_workers=workers, novelty=novelty,
    )

    async def main():
        await controller.start(start)
        return await controller.run()

    return store, run_id, asyncio.run(main()), controller


def test_near_duplicates_are_recorded_with_their_twin_not_evaluated_and_the_proposal_is_asked_again(tmp_path):
    evaluator = CountingEvaluator()
    proposer = ScriptedProposer(["X = 1.0\n", "X = 1.0  # same code\n", "X   =   1.0\n", "X = 2.0\n"])
    strategy = Recording(Greedy(SearchConfig(), random.Random(0)))
    store, run_id, _, _ = run(tmp_path, strategy, proposer, evaluator, budget=3, novelty=NoveltyIndex(1.0))
    assert evaluator.calls == ["X = 0.0\n", "X = 1.0\n", "X = 2.0\n"]
    duplicates = store.programs(run_id, [Status.DUPLICATE])
    first = store.programs(run_id, [Status.CORRECT])[1]
    assert [d.source for d in duplicates] == ["X = 1.0  # same code\n", "X   =   1.0\n"]
    assert all(d.error == f"near-duplicate of program {first.id[:8]} (similarity 1.000 >= 1)" for d in duplicates)
    assert len(strategy.asked) == 4 and len(strategy.discarded) == 2  # asked again after each rejection


class BrokenMeansFailed(CountingEvaluator):
    def evaluate(self, source, *, label="", parent=None):
        self.calls.append(source)
        if "BROKEN" in source:
            return EvalResult(Status.BUILD_FAILED, error="syntax")
        return EvalResult(Status.CORRECT, fitness=float(len(self.calls)))


LONG = "".join(f"V{i} = {i}\n" for i in range(40))


def test_a_lower_threshold_rejects_small_edits_of_a_correct_program(tmp_path):
    evaluator = BrokenMeansFailed()
    proposer = ScriptedProposer([LONG + "X = 2\n", "W = 7\n"])
    store, run_id, _, _ = run(tmp_path, Greedy(SearchConfig(), random.Random(0)), proposer, evaluator,
                              budget=2, novelty=NoveltyIndex(0.9), start=LONG + "X = 1\n")
    duplicates = store.programs(run_id, [Status.DUPLICATE])
    assert [d.source for d in duplicates] == [LONG + "X = 2\n"]
    assert "near-duplicate of program" in duplicates[0].error and ">= 0.9)" in duplicates[0].error
    assert evaluator.calls == [LONG + "X = 1\n", "W = 7\n"]


def test_a_small_change_to_a_failed_program_is_evaluated_but_a_cosmetic_one_is_not(tmp_path):
    evaluator = BrokenMeansFailed()
    broken = LONG + "BROKEN\n"
    proposer = ScriptedProposer([broken + "# still broken\n", LONG + "FIXED\n"])
    store, run_id, _, _ = run(tmp_path, Greedy(SearchConfig(), random.Random(0)), proposer, evaluator,
                              budget=2, novelty=NoveltyIndex(0.9), start=broken)
    assert [d.source for d in store.programs(run_id, [Status.DUPLICATE])] == [broken + "# still broken\n"]
    assert evaluator.calls == [broken, LONG + "FIXED\n"]


def test_repeat_evaluations_are_recorded_as_attempts_and_count_against_the_budget(tmp_path):
    evaluator = NoisyEvaluator()
    pq = PriorityQueue(SearchConfig(strategy="pq", pq=PQConfig(reevaluate_share=1.0, max_evaluations=3)), random.Random(0))
    strategy = Recording(pq)
    proposer = ScriptedProposer(["X = 1.0\n", "X = 2.0\n", "X = 3.0\n", "X = 4.0\n"])
    store, run_id, reason, controller = run(tmp_path, strategy, proposer, evaluator, budget=8)
    assert reason == "budget: evaluations" and len(evaluator.calls) == 8
    repeats = [r for r in strategy.asked if r.reevaluate]
    assert repeats and all(r.reason.startswith("pq: re-evaluate") for r in repeats)
    programs = {p.id: p for p in store.programs(run_id)}
    again = [p for p in programs.values() if p.metrics.get(FITNESS_EVALS, 1) > 1]
    assert again and len(programs) + sum(int(p.metrics[FITNESS_EVALS]) - 1 for p in again) == 8
    for p in again:  # the stored fitness is the mean of the attempts, each attempt's stages are kept
        n = int(p.metrics[FITNESS_EVALS])
        values = [float(st.message) for st in store.evaluations(p.id)]
        assert [st.attempt for st in store.evaluations(p.id)] == list(range(1, n + 1))
        assert p.fitness == sum(values) / n
    told_twice = [p for p in strategy.told if p.id in {a.id for a in again}]
    assert len(told_twice) == sum(int(p.metrics[FITNESS_EVALS]) for p in again)
    assert controller.state.evaluated == 8
    # A resumed session counts the repeats already made and starts with the same queue.
    resumed_pq = PriorityQueue(SearchConfig(strategy="pq", pq=PQConfig(reevaluate_share=1.0, max_evaluations=3)),
                               random.Random(0))
    _, _, _, controller2 = run(tmp_path, resumed_pq, ScriptedProposer([]), evaluator, budget=8, start=None, store=store)
    assert controller2.state.evaluated == 8 and len(evaluator.calls) == 8
    assert [m.program.id for m in resumed_pq.members()] == [m.program.id for m in pq.members()]
