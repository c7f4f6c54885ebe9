"""Repeat evaluations in the store: another attempt of the same program, fitness the mean."""

from __future__ import annotations

import pytest

from archives.records import EvalResult, Program, StageResult, Status
from archives.repeats import FITNESS_EVALS, FITNESS_SD, fitness_stats
from archives.store import Store


def correct(value: float) -> EvalResult:
    return EvalResult(Status.CORRECT, fitness=value, metrics={"combined_score": value, "speed": 2 * value},
                      stages=(StageResult("score", True, message=str(value)),))


@pytest.fixture
def stored(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = store.create_run("t", "t.yaml", "pq", 0, {})
    store.add_program(Program(id="p1", run_id=run.id, source="x = 1\n"))
    store.finish_program("p1", correct(1.0))
    yield store
    store.close()


def test_attempts_average_the_fitness_and_keep_each_attempts_stages(stored):
    first = stored.get_program("p1")
    assert fitness_stats(first).n == 1 and FITNESS_EVALS not in first.metrics
    stored.add_attempt("p1", correct(3.0))
    done = stored.add_attempt("p1", correct(2.0))
    assert done.status == Status.CORRECT and done.fitness == 2.0
    assert done.metrics[FITNESS_EVALS] == 3 and done.metrics[FITNESS_SD] == pytest.approx(1.0)
    assert done.metrics["speed"] == 2.0  # the first evaluation's measurements are kept
    assert [(s.attempt, s.message) for s in stored.evaluations("p1")] == [(1, "1.0"), (2, "3.0"), (3, "2.0")]
    assert stored.best_programs(done.run_id, 1)[0].fitness == 2.0
    assert done.evaluated_at >= first.evaluated_at


def test_a_failed_attempt_fails_the_program_for_good(stored):
    failed = stored.add_attempt("p1", EvalResult(Status.TIMEOUT, error="killed after 60 s"))
    assert failed.status == Status.TIMEOUT and failed.fitness is None
    assert failed.error == "attempt 2 failed (timeout): killed after 60 s"
    again = stored.add_attempt("p1", correct(5.0))
    assert again.status == Status.TIMEOUT and again.metrics[FITNESS_EVALS] == 3


def test_only_evaluated_programs_can_be_evaluated_again(stored):
    run_id = stored.get_program("p1").run_id
    stored.add_program(Program(id="p2", run_id=run_id, source="x = 2\n", parent_id="p1"))
    with pytest.raises(ValueError, match="pending"):
        stored.add_attempt("p2", correct(1.0))
    assert stored.get_program("p2").status == Status.PENDING
