"""The controller's side: kernel task config, verdicts as EvalResults, and `agent new-task`."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from agent.config import ConfigError, load_task
from agent.new_task import new_task_from_kernelbench
from evaluators.kernel.evaluator import KernelEvaluator
from sandbox.base import SandboxOutcome

ROOT = Path(__file__).resolve().parents[3]
SOFTMAX = ROOT / "tasks" / "softmax_triton"


class _ScriptedSandbox:
    """Returns the outcomes it is given, in order, and keeps the jobs it was asked to run."""

    name = "scripted"

    def __init__(self, *outcomes: SandboxOutcome) -> None:
        self.outcomes = list(outcomes)
        self.jobs = []

    def warnings(self):
        return []

    def run(self, job):
        self.jobs.append(job)
        return self.outcomes.pop(0)


def _outcome(stages, metrics=None, text=None, **extra) -> SandboxOutcome:
    payload = {"stages": [{"name": n, "ok": ok, "seconds": 0.1, "message": m, "log": ""} for n, ok, m in stages],
               "metrics": metrics or {}, "text": text or {}}
    return SandboxOutcome(exit_code=0, result=json.dumps(payload).encode(), **extra)


def _evaluator(*outcomes, device="cpu", sandbox=None) -> tuple[KernelEvaluator, _ScriptedSandbox]:
    task = load_task(SOFTMAX / "task.yaml")
    task = task.model_copy(update={"kernel": task.kernel.model_copy(update={"device": device})})
    sandbox = sandbox or _ScriptedSandbox(*outcomes)
    return KernelEvaluator(task, sandbox, gpus=[0] if device == "cuda" else []), sandbox


def test_the_example_kernel_tasks_load():
    for name in ("softmax_triton", "gelu_cuda"):
        task = load_task(ROOT / "tasks" / name / "task.yaml")
        assert task.kind == "kernel" and task.reference.is_file() and task.evaluator is None


def test_kernel_task_mistakes_are_one_line_errors(tmp_path):
    (tmp_path / "initial.py").write_text("")
    (tmp_path / "reference.py").write_text("")
    cases = {
        "kind: kernel\nlanguage: triton\nprogram: initial.py\n": "reference: required key is missing",
        "kind: kernel\nlanguage: rust\nprogram: initial.py\nreference: reference.py\n": "kernel tasks take 'triton' or 'cuda'",
        "kind: kernel\nlanguage: cuda\nprogram: initial.py\nreference: nope.py\n": "reference: file not found",
        "kind: kernel\nlanguage: cuda\nprogram: initial.py\nreference: reference.py\nkernel: {trials: 2}\n": "kernel.trials",
    }
    for body, message in cases.items():
        path = tmp_path / "task.yaml"
        path.write_text("name: k\n" + body)
        with pytest.raises(ConfigError, match=message):
            load_task(path)


def test_a_correct_candidate_without_a_gpu_gets_fitness_zero_and_says_why():
    evaluator, sandbox = _evaluator(_outcome([("policy", True, ""), ("compile", True, ""), ("correctness", True, "")],
                                             {"block_size": 512.0, "num_warps": 8.0, "launches": 1.0},
                                             {"timing": "not measured: no GPU on this machine"}))
    result = evaluator.evaluate((SOFTMAX / "initial.py").read_text())
    assert (result.status, result.fitness) == ("correct", 0.0)
    assert result.descriptors == {"block_size": 512.0, "num_warps": 8.0, "launches": 1.0}
    assert "timing not measured" in result.feedback
    job = sandbox.jobs[0]
    assert job.gpu is None and "EVOFORGE_KERNEL_SECRET" in job.env
    assert "--options" in job.argv and "seed" not in json.loads(job.argv[job.argv.index("--options") + 1])
    assert str(SOFTMAX) in job.read_paths


def test_a_timed_candidate_is_as_fit_as_its_speedup_and_compile_time_is_reused():
    timed = {"runtime_ms": 0.1, "reference_ms": 0.15, "speedup": 1.5, "compile_ref_ms": 0.12, "speedup_vs_compile": 1.2}
    stages = [("policy", True, ""), ("compile", True, ""), ("correctness", True, ""), ("timing", True, "")]
    second = {"runtime_ms": 0.06, "reference_ms": 0.15, "speedup": 2.5}
    evaluator, sandbox = _evaluator(_outcome(stages, timed), _outcome(stages, second), device="cuda")
    first = evaluator.evaluate("x = 1\n")
    assert (first.status, first.fitness) == ("correct", 1.5)
    again = evaluator.evaluate("x = 2\n")
    assert again.fitness == 2.5 and again.metrics["speedup_vs_compile"] == pytest.approx(0.12 / 0.06)
    options = json.loads(sandbox.jobs[1].argv[sandbox.jobs[1].argv.index("--options") + 1])
    assert options["compile_reference"] is False  # measured once, reused
    assert sandbox.jobs[0].gpu == 0
    lock = options["gpu_lock"]  # on every backend: a container gets the lock and its gate mounted read-only
    assert {lock, lock + ".gate"} <= set(sandbox.jobs[1].read_paths) and os.path.exists(lock + ".gate")


def test_the_references_bytes_and_flops_are_measured_by_one_job_and_passed_to_the_next():
    stages = [("policy", True, ""), ("compile", True, ""), ("correctness", True, ""), ("timing", True, "")]
    work = {"bytes": 268435456.0, "flops": 167772160.0, "dtype": "float32"}
    first = _outcome(stages, {"runtime_ms": 0.1, "speedup": 1.5}, {"reference_work": json.dumps(work)})
    evaluator, sandbox = _evaluator(first, _outcome(stages, {"runtime_ms": 0.1, "speedup": 1.5}), device="cuda")
    result = evaluator.evaluate("x = 1\n")
    assert "reference_work" not in result.feedback
    evaluator.evaluate("x = 2\n")
    asked = [json.loads(j.argv[j.argv.index("--options") + 1]).get("reference_work") for j in sandbox.jobs]
    assert asked == [None, work]


def test_one_job_at_a_time_times_the_compiled_reference_and_a_failed_one_passes_it_on():
    wrong = _outcome([("policy", True, ""), ("compile", True, ""), ("correctness", False, "trial 1: off")])
    started, release = threading.Event(), threading.Event()

    class _FirstJobWaits(_ScriptedSandbox):
        def run(self, job):
            if not self.jobs:
                self.jobs.append(job)
                started.set()
                release.wait(5)
                return wrong
            self.jobs.append(job)
            return wrong

    evaluator, sandbox = _evaluator(device="cuda", sandbox=_FirstJobWaits())
    first = threading.Thread(target=evaluator.evaluate, args=("x = 1\n",))
    first.start()
    started.wait(5)
    evaluator.evaluate("x = 2\n")  # while the first is in flight
    release.set()
    first.join(5)
    evaluator.evaluate("x = 3\n")  # the first ended without the time: this one is asked
    asked = [json.loads(j.argv[j.argv.index("--options") + 1])["compile_reference"] for j in sandbox.jobs]
    assert asked == [True, False, True]


@pytest.mark.parametrize("stage, message, status", [
    ("policy", "calls torch.softmax() (line 3): that operator does the reference's work", "wrong"),
    ("compile", "error: identifier \"erff2\" is undefined", "build_failed"),
    ("compile", "no answer within 300 s while importing the candidate", "timeout"),
    ("correctness", "trial 2 (inputs x100): output[1, 2]: got NaN, expected 0.5", "wrong"),
    ("correctness", "the candidate's process was killed by signal 11 (SIGSEGV) during trial 1", "error"),
    ("roofline", "0.001 ms is faster than the roofline floor of 0.09 ms", "wrong"),
])
def test_a_failed_stage_maps_to_a_status_with_its_reason(stage, message, status):
    evaluator, _ = _evaluator(_outcome([("policy", stage != "policy", message if stage == "policy" else "")]
                                       + ([(stage, False, message)] if stage != "policy" else []),
                                       text={"worst_mismatch": "output[1, 2]: got NaN"}))
    result = evaluator.evaluate("x = 1\n")
    assert result.status == status
    assert result.error == f"{stage}: {message}"
    assert f"{stage} failed: {message}" in result.feedback


def test_no_verdict_and_timeouts_are_reported():
    evaluator, _ = _evaluator(SandboxOutcome(exit_code=None, result=None, timed_out=True),
                              SandboxOutcome(exit_code=None, result=None, killed_reason="memory"))
    assert evaluator.evaluate("x = 1\n").status == "timeout"
    killed = evaluator.evaluate("x = 1\n")
    assert killed.status == "error" and "out of memory" in killed.error


def test_invalid_python_never_reaches_the_sandbox():
    evaluator, sandbox = _evaluator()
    result = evaluator.evaluate("def f(:\n")
    assert result.status == "build_failed" and not sandbox.jobs


def test_new_task_from_a_kernelbench_file_loads_and_starts_from_the_reference(tmp_path):
    target = new_task_from_kernelbench(SOFTMAX / "reference.py", "cuda", tmp_path / "t")
    task = load_task(target)
    assert (task.kind, task.language) == ("kernel", "cuda")
    assert task.kernel.cpu_shape == {"batch_size": 64, "dim": 64}
    assert "class ModelNew" in task.program.read_text() and "get_inputs" not in task.program.read_text()
    assert task.reference.read_text() == (SOFTMAX / "reference.py").read_text()
    with pytest.raises(ConfigError, match="exists and is not empty"):
        new_task_from_kernelbench(SOFTMAX / "reference.py", "cuda", tmp_path / "t")
    (tmp_path / "bad.py").write_text("import torch\n")
    with pytest.raises(ConfigError, match="not a KernelBench problem file: it defines no Model"):
        new_task_from_kernelbench(tmp_path / "bad.py", "triton", tmp_path / "u")
