"""Compile errors are build_failed, wrong answers stay wrong (compile_errors.py), on the CPU path too.

In Triton's interpreter a kernel's undefined name or bad tl arguments surface as an
InterpreterError around NameError/TypeError at the first call; on a GPU they are a
CompilationError. Both end the compile stage with one line.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from evaluators.kernel.compile_errors import compile_message, is_compile_error

HOSTILE = Path(__file__).resolve().parent / "hostile"
ROOT = Path(__file__).resolve().parents[3]
TASK = ROOT / "tasks" / "softmax_triton"


@pytest.mark.parametrize("reply, expected", [
    ({"error_type": "CompilationError", "error": "at 12:4: NameError"}, True),
    ({"error_type": "CalledProcessError", "error": "nvcc: error"}, True),
    ({"error_type": "InterpreterError", "error": "triton.runtime.errors.InterpreterError: NameError(\"x\")"}, True),
    ({"error_type": "InterpreterError",
      "error": "triton.runtime.errors.InterpreterError: InterpreterError('TypeError(\"sum() bad\")')"}, True),
    ({"error_type": "InterpreterError", "error": "InterpreterError: AssertionError('static')",
      "log": 'File "interpreter.py", line 1316, in _new_static_assert'}, True),
    ({"error_type": "InterpreterError", "error": "triton.runtime.errors.InterpreterError: AssertionError('x < n')"},
     False),  # tl.device_assert: a runtime failure on a GPU too
    ({"error_type": "InterpreterError", "error": "triton.runtime.errors.InterpreterError: RuntimeError('x')"}, False),
    ({"error_type": "NameError", "error": "NameError: name 'y' is not defined"}, False),  # host code, both paths
    ({"error_type": "RuntimeError", "error": "CUDA error: an illegal memory access"}, False),
])
def test_which_failures_are_compile_errors(reply, expected):
    assert is_compile_error(reply) is expected


def test_the_interpreters_wrapping_is_taken_off_the_message():
    error = "InterpreterError('TypeError(\"sum() got \\'bogus\\'\")')"
    reply = {"error_type": "InterpreterError", "error": f"triton.runtime.errors.InterpreterError: {error}"}
    assert compile_message(reply) == ("the kernel does not compile (Triton's interpreter raised "
                                      "TypeError(\"sum() got 'bogus'\"))")


def test_a_failed_stage_marked_build_failed_is_stored_so():
    from agent.config import load_task
    from evaluators.kernel.evaluator import KernelEvaluator
    from sandbox.base import SandboxOutcome

    def outcome(status):
        stage = {"name": "correctness", "ok": False, "seconds": 0.1, "message": "shape M=5: the kernel does not "
                 "compile (...)", "log": "", **({"status": status} if status else {})}
        payload = {"stages": [{"name": "compile", "ok": True, "seconds": 0.1, "message": "", "log": ""}, stage],
                   "metrics": {}, "text": {}}
        return SandboxOutcome(exit_code=0, result=json.dumps(payload).encode())

    class Scripted:
        name = "scripted"

        def __init__(self):
            self.outcomes = [outcome("build_failed"), outcome(None)]

        def warnings(self):
            return []

        def run(self, job):
            return self.outcomes.pop(0)

    evaluator = KernelEvaluator(load_task(TASK / "task.yaml"), Scripted(), gpus=[])
    assert evaluator.evaluate("x = 1").status == "build_failed"
    assert evaluator.evaluate("x = 1").status == "wrong"


torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from evaluators.kernel.judge import JudgeOptions, judge  # noqa: E402


@pytest.mark.parametrize("name, reason", [("compile_error", "NameError"), ("bad_tl_arguments", "TypeError")])
def test_a_kernel_that_does_not_compile_fails_the_compile_stage_in_the_interpreter(name, reason):
    options = JudgeOptions(language="triton", device="cpu", seed=secrets.randbits(62),
                           shape={"batch_size": 8, "dim": 300})
    result = judge(str(TASK / "reference.py"), str(HOSTILE / f"{name}.py"), options)
    failed = next(s for s in result["stages"] if not s["ok"])
    assert failed["name"] == "compile", failed
    assert failed["message"].startswith("the kernel does not compile") and reason in failed["message"]
    assert "\n" not in failed["message"]


def test_a_kernel_that_compiles_at_the_benchmark_shape_only_is_build_failed_at_another(tmp_path):
    """tl.arange over the row's length compiles while it is a power of two (256), not at a derived
    shape's: on a GPU a CompilationError at that shape's first call, here a ValueError inside it."""
    source = (TASK / "initial.py").read_text()
    assert "block = triton.next_power_of_2(cols)" in source
    candidate = tmp_path / "candidate.py"
    candidate.write_text(source.replace("block = triton.next_power_of_2(cols)", "block = cols"))
    options = JudgeOptions(language="triton", device="cpu", seed=secrets.randbits(62), trials=2,
                           shape={"batch_size": 8, "dim": 256})
    result = judge(str(TASK / "reference.py"), str(candidate), options)
    failed = next(s for s in result["stages"] if not s["ok"])
    assert (failed["name"], failed.get("status")) == ("correctness", "build_failed"), failed
    assert "the kernel does not compile" in failed["message"] and "power of 2" in failed["message"]
