"""Controller.start(): the initial program's verdict may stop a run; pending programs respect the workers."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from agent.config import SearchConfig
from agent.controller import Controller
from agent.failures import RunFailed
from agent.proposers import TunerProposer
from agent.tuner import Tuner
from archives.map_elites import MapElites
from archives.records import EvalResult, Program, Status
from archives.store import Store
from tests.agent.test_controller import ScriptedProposer


class FixedEvaluator:
    """Gives every program the same result; records how many ran at once."""

    def __init__(self, result: EvalResult, delay: float = 0.0):
        self.result = result
        self.delay = delay
        self.calls = 0
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()

    def evaluate(self, source, *, label="", parent=None):
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        return self.result


def controller(tmp_path, evaluator, proposer, workers=2, store=None, run=None):
    store = store or Store(f"sqlite:///{tmp_path / 's.db'}")
    run = run or store.create_run("t", "t.yaml", "map_elites", 0, {})
    loop = Controller(store=store, run_id=run.id, strategy=MapElites(SearchConfig(), random.Random(0)),
                      proposer=proposer, evaluator=evaluator, evaluations=20, proposal_workers=1,
                      evaluation_workers=workers)
    return loop, store, run


BROKEN = EvalResult(Status.ERROR, evaluator_error=True,
                    error="could not load the evaluator: SyntaxError: invalid syntax (evaluator.py, line 2)")
CRASHED = EvalResult(Status.ERROR, error="the evaluator raised ZeroDivisionError: division by zero")
CORRECT = EvalResult(Status.CORRECT, fitness=1.0, metrics={"combined_score": 1.0})


def test_an_evaluator_error_on_the_initial_program_fails_the_run_and_records_the_program(tmp_path):
    proposer = ScriptedProposer([])
    loop, store, run = controller(tmp_path, FixedEvaluator(BROKEN), proposer)
    with pytest.raises(RunFailed) as info:
        asyncio.run(loop.start("X = 0.0\n"))
    assert str(info.value) == f"the evaluator failed on the initial program: {BROKEN.error}"
    (initial,) = store.programs(run.id)
    assert initial.status == Status.ERROR and initial.error == BROKEN.error
    assert proposer.previous_errors == []  # nothing was proposed


def test_a_failing_initial_program_goes_on_when_an_llm_can_rewrite_it(tmp_path):
    loop, store, run = controller(tmp_path, FixedEvaluator(CRASHED), ScriptedProposer([]))
    asyncio.run(loop.start("X = 0.0\n"))
    assert store.programs(run.id)[0].status == Status.ERROR


def test_the_tuner_alone_stops_on_a_failing_initial_program_but_not_on_a_correct_one(tmp_path):
    tuner = TunerProposer(Tuner({}, random.Random(0)))
    (tmp_path / "failing").mkdir()
    loop, _, _ = controller(tmp_path / "failing", FixedEvaluator(CRASHED), tuner)
    with pytest.raises(RunFailed, match=r"^the initial program did not pass \(the evaluator raised ZeroDivision.*"
                                        r"no LLM is configured"):
        asyncio.run(loop.start("X = 0.0\n"))
    loop, store, run = controller(tmp_path, FixedEvaluator(CORRECT), tuner)
    asyncio.run(loop.start("X = 0.0\n"))
    assert store.programs(run.id)[0].status == Status.CORRECT


def test_an_evaluator_error_on_a_later_pending_program_does_not_fail_a_resumed_run(tmp_path):
    loop, store, run = controller(tmp_path, FixedEvaluator(CORRECT), ScriptedProposer([]))
    asyncio.run(loop.start("X = 0.0\n"))
    initial = store.programs(run.id)[0]
    store.add_program(Program(id="child", run_id=run.id, source="X = 1.0\n", parent_id=initial.id, generation=1))
    resumed, _, _ = controller(tmp_path, FixedEvaluator(BROKEN), ScriptedProposer([]), store=store, run=run)
    asyncio.run(resumed.start(None))
    assert store.programs(run.id)[1].status == Status.ERROR


def test_resume_re_evaluates_pending_programs_at_most_workers_at_once(tmp_path):
    loop, store, run = controller(tmp_path, FixedEvaluator(CORRECT), ScriptedProposer([]))
    asyncio.run(loop.start("X = 0.0\n"))
    initial = store.programs(run.id)[0]
    for k in range(6):
        store.add_program(Program(id=f"p{k}", run_id=run.id, source=f"X = {k}.5\n", parent_id=initial.id, generation=1))
    evaluator = FixedEvaluator(CORRECT, delay=0.2)
    resumed, _, _ = controller(tmp_path, evaluator, ScriptedProposer([]), workers=2, store=store, run=run)
    asyncio.run(resumed.start(None))
    assert evaluator.calls == 6 and 1 <= evaluator.max_in_flight <= 2
    assert not store.programs(run.id, [Status.PENDING])
    assert resumed.state.evaluated == 7
