"""Primed kernel jobs (evaluators/kernel/priming.py): a candidate's job started before the
candidate exists, through the real process sandbox and Triton's interpreter. The judge it gives
must be the same: honest candidates correct, hostile ones rejected, one job per candidate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[3]
TASK = ROOT / "tasks" / "softmax_triton"
HOSTILE = Path(__file__).resolve().parent / "hostile"


@pytest.fixture
def evaluator(tmp_path):
    from agent.config import load_task
    from evaluators.kernel.evaluator import KernelEvaluator
    from sandbox.process import ProcessSandbox

    (tmp_path / "reference.py").write_text((TASK / "reference.py").read_text())
    (tmp_path / "initial.py").write_text((TASK / "initial.py").read_text())
    (tmp_path / "task.yaml").write_text(
        "name: softmax_primed\nkind: kernel\nlanguage: triton\nreference: reference.py\nprogram: initial.py\n"
        "kernel: {device: cpu, cpu_shape: {batch_size: 4, dim: 100}}\n"
        "evaluate: {timeout_seconds: 180, memory_mb: 3000, workers: 1}\n")
    made = KernelEvaluator(load_task(tmp_path / "task.yaml"), ProcessSandbox(), prime=True)
    yield made
    made.stop_priming()


def _waiting(evaluator, seconds: float = 120.0):
    """The primed job waiting for a candidate, once it is there."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        jobs = list(evaluator._primed._jobs)
        if jobs:
            return jobs[0]
        time.sleep(0.1)
    raise AssertionError("no primed job was started")


def test_the_next_candidate_is_judged_by_a_job_started_before_it_existed(evaluator):
    honest = (TASK / "initial.py").read_text()
    first = evaluator.evaluate(honest, label="first")
    assert first.status == "correct", first.error
    assert "primed_wait_s" not in first.metrics  # the pool was empty: a job of its own
    _waiting(evaluator)
    second = evaluator.evaluate(honest + "\n# another\n", label="second")
    assert second.status == "correct", second.error
    assert second.metrics["primed_wait_s"] >= 0.0
    hostile = evaluator.evaluate((HOSTILE / "shape_specialised.py").read_text(), label="hostile")
    assert hostile.status == "wrong" and "derived from the reference's sizes" in hostile.error
    assert "primed_wait_s" in hostile.metrics


def test_a_primed_job_ends_when_priming_stops_and_one_that_expired_is_not_used(evaluator, monkeypatch):
    import evaluators.kernel.evaluator as module

    evaluator.evaluate((TASK / "initial.py").read_text(), label="first")
    waiting = _waiting(evaluator)
    evaluator.stop_priming()
    started = time.monotonic()
    outcome = waiting.job.outcome()
    assert time.monotonic() - started < 60 and outcome.exit_code == 0 and not outcome.timed_out
    assert not waiting.job.inbox.exists()

    monkeypatch.setattr(module, "PRIME_WAIT_S", 1.0)
    from evaluators.kernel.priming import PrimedJobs

    evaluator._primed = PrimedJobs(1, lambda p: evaluator._release_compile_reference(p.options))
    evaluator._prime_next()
    expired = _waiting(evaluator)
    expired.job.outcome()  # it gave up waiting by itself
    result = evaluator.evaluate((TASK / "initial.py").read_text(), label="after expiry")
    assert result.status == "correct" and "primed_wait_s" not in result.metrics
