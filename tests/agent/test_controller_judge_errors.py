"""A failure on the evaluator's side is never charged to a program: stored as a judge error,
not told to the strategy as a failure (only released), counted, and a broken evaluator stops the run."""

from __future__ import annotations

import asyncio
import random

import pytest

from agent.config import SearchConfig
from agent.controller import JUDGE_ERROR_STREAK, Controller
from agent.failures import RunFailed
from archives.map_elites import MapElites
from archives.records import EvalResult, StageResult, Status
from archives.store import Store
from tests.agent.test_controller import ScriptedProposer

REFERENCE_OOM = EvalResult(
    Status.ERROR, evaluator_error=True,
    error="correctness: the reference failed on trial 1 (inputs normal): OutOfMemoryError: CUDA out of memory",
    stages=(StageResult("correctness", False, message="the reference failed on trial 1"),))


class JudgeFailsOn:
    """Correct (fitness = the number in the source) except for the sources it is told to fail on."""

    def __init__(self, failing: set[str]):
        self.failing = failing

    def evaluate(self, source, *, label="", parent=None):
        if source in self.failing:
            return REFERENCE_OOM
        value = float(source.split("=")[1])
        return EvalResult(Status.CORRECT, fitness=value, metrics={"combined_score": value})


class SpyStrategy(MapElites):
    def __init__(self):
        super().__init__(SearchConfig(), random.Random(0))
        self.told, self.discarded = [], []

    def tell(self, program):
        self.told.append(program.id)
        return super().tell(program)

    def discard(self, request):
        self.discarded.append(request)
        return super().discard(request)


def _run(tmp_path, evaluator, sources, budget):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = store.create_run("t", "t.yaml", "map_elites", 0, {})
    strategy = SpyStrategy()
    loop = Controller(store=store, run_id=run.id, strategy=strategy, proposer=ScriptedProposer(sources),
                      evaluator=evaluator, evaluations=budget, proposal_workers=1, evaluation_workers=1)

    async def main():
        await loop.start("X = 0.0\n")
        return await loop.run()

    return store, run, strategy, loop, main


def test_a_judge_error_is_recorded_but_not_told_to_the_strategy_as_a_failure(tmp_path):
    evaluator = JudgeFailsOn({"X = 1.5\n"})
    store, run, strategy, loop, main = _run(tmp_path, evaluator, ["X = 1.5\n", "X = 2.0\n"], budget=3)
    asyncio.run(main())
    (failed,) = store.programs(run.id, [Status.ERROR])
    assert failed.source == "X = 1.5\n"
    assert failed.error.startswith("judge error: correctness: the reference failed on trial 1")
    assert failed.id not in strategy.told
    initial = store.programs(run.id, limit=1)[0]
    assert [r.parent.id for r in strategy.discarded] == [initial.id]
    fresh = strategy._fresh
    assert fresh.failed[initial.id] == 0 and fresh.barren[initial.id] == 0 and fresh.pending[initial.id] == 0
    assert loop.state.judge_errors == 1
    assert store.programs(run.id, [Status.CORRECT])[-1].source == "X = 2.0\n"


def test_a_resumed_strategy_is_rebuilt_without_the_judge_errors(tmp_path):
    store, run, _, _, main = _run(tmp_path, JudgeFailsOn({"X = 1.5\n"}), ["X = 1.5\n"], budget=2)
    asyncio.run(main())
    strategy = SpyStrategy()
    resumed = Controller(store=store, run_id=run.id, strategy=strategy, proposer=ScriptedProposer([]),
                         evaluator=JudgeFailsOn(set()), evaluations=2, proposal_workers=1, evaluation_workers=1)
    asyncio.run(resumed.start(None))
    (failed,) = store.programs(run.id, [Status.ERROR])
    assert failed.id not in strategy.told and len(strategy.told) == 1


def test_judge_errors_in_a_row_stop_the_run_with_one_line(tmp_path):
    sources = [f"X = {k}.5\n" for k in range(1, 20)]
    store, run, _, loop, main = _run(tmp_path, JudgeFailsOn(set(sources)), sources, budget=15)
    with pytest.raises(RunFailed, match=rf"^the evaluator failed on {JUDGE_ERROR_STREAK} programs in a row"):
        asyncio.run(main())
    assert loop.state.judge_errors == JUDGE_ERROR_STREAK


def test_the_run_summary_counts_the_judge_errors():
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from agent.display import summary_table

    outcome = SimpleNamespace(run=SimpleNamespace(id="a" * 32, task_name="demo", config={}), status="finished",
                              stop_reason="budget: evaluations", initial=None, best=None, seconds=1.0,
                              summary=SimpleNamespace(evaluated=3, counts={"correct": 2, "error": 1}, cost=0.0,
                                                      llm_calls=0, tokens=0), judge_errors=1)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(summary_table(outcome))
    text = console.export_text()
    assert "judge errors" in text and "1 (the evaluator's fault" in text
