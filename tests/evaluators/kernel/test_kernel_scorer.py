"""A task's scorer plugin applies to kernel verdicts too: it makes the fitness, and its failure is the evaluator's."""

from __future__ import annotations

from agent.config import load_task
from evaluators.kernel.evaluator import KernelEvaluator
from evaluators.scorers import validated
from tests.evaluators.kernel.test_evaluator import SOFTMAX, _outcome, _ScriptedSandbox

PASSED = [("policy", True, ""), ("compile", True, ""), ("correctness", True, ""), ("timing", True, "")]
TIMED = {"runtime_ms": 0.1, "reference_ms": 0.15, "speedup": 1.5, "block_size": 512.0}


def _evaluator(scorer, *outcomes) -> KernelEvaluator:
    task = load_task(SOFTMAX / "task.yaml")
    task = task.model_copy(update={"kernel": task.kernel.model_copy(update={"device": "cuda"})})
    return KernelEvaluator(task, _ScriptedSandbox(*outcomes), gpus=[0], scorer=validated(scorer, "mine.py:score"))


def test_a_scorer_makes_a_correct_kernels_fitness_and_adds_descriptors():
    def score(metrics):
        return {"fitness": metrics["speedup"] - metrics["runtime_ms"], "descriptors": {"fast": 1.0}}

    result = _evaluator(score, _outcome(PASSED, TIMED)).evaluate("x = 1\n")
    assert result.status == "correct" and result.fitness == 1.4 and not result.evaluator_error
    assert result.descriptors == {"block_size": 512.0, "fast": 1.0}


def test_a_failing_scorer_is_the_evaluators_error_naming_the_scorer():
    result = _evaluator(lambda m: m["missing"], _outcome(PASSED, TIMED)).evaluate("x = 1\n")
    assert result.status == "error" and result.evaluator_error
    assert result.error == "scorer mine.py:score raised KeyError: 'missing'"


def test_a_failing_candidate_never_reaches_the_scorer():
    def score(metrics):
        raise AssertionError("only correct candidates are scored")

    wrong = _outcome([("policy", True, ""), ("compile", True, ""), ("correctness", False, "trial 1: off")])
    result = _evaluator(score, wrong).evaluate("x = 1\n")
    assert result.status == "wrong" and not result.evaluator_error
