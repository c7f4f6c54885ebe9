"""The judge's side of "a reference that fails is the task's error, not the candidate's".

new-task refuses a reference that fails at the CPU shape (test_new_task_kernelbench.py); one that
fails later, in the judge (on a trial's inputs, or when loading), makes the candidate's result an
evaluator error (`EvalResult.evaluator_error`), which stops a run on its initial program instead
of charging the candidates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import load_task
from evaluators.kernel.evaluator import KernelEvaluator
from sandbox.base import SandboxOutcome

SOFTMAX = Path(__file__).resolve().parents[2] / "tasks" / "softmax_triton"


class _OneOutcome:
    name = "scripted"

    def __init__(self, outcome: SandboxOutcome) -> None:
        self.outcome = outcome

    def warnings(self):
        return []

    def run(self, job):
        return self.outcome


def _verdict(stage: str, message: str):
    stages = [{"name": n, "ok": True, "seconds": 0.1, "message": "", "log": ""} for n in ("policy", "compile")
              if n != stage]
    stages.append({"name": stage, "ok": False, "seconds": 0.1, "message": message, "log": ""})
    payload = {"stages": stages, "metrics": {}, "text": {}}
    task = load_task(SOFTMAX / "task.yaml")
    task = task.model_copy(update={"kernel": task.kernel.model_copy(update={"device": "cpu"})})
    sandbox = _OneOutcome(SandboxOutcome(exit_code=0, result=json.dumps(payload).encode()))
    return KernelEvaluator(task, sandbox, gpus=[]).evaluate((SOFTMAX / "initial.py").read_text())


@pytest.mark.parametrize(("stage", "message", "faulty_task"), [
    ("compile", "the reference could not be loaded: ImportError: no module einops", True),
    ("correctness", "the reference failed on trial 3 (inputs x-100): _LinAlgError: linalg.cholesky: not "
                    "positive-definite", True),
    ("correctness", "the reference failed on shape M=47, N=45: RuntimeError: CUDA out of memory", True),
    ("timing", "the reference ran 60% slower beside the candidate (0.2 ms) than alone (0.12 ms)", False),
    ("correctness", "trial 2 (inputs x2 +-1): output: 31 of 4096 elements differ", False),
])
def test_a_failing_reference_is_the_tasks_error_not_the_candidates(stage, message, faulty_task):
    result = _verdict(stage, message)
    assert result.evaluator_error is faulty_task
    assert result.error == f"{stage}: {message}"
