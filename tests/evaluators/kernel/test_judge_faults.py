"""A failure on the judge's side is never the candidate's: retried once the GPU is free, then an
evaluator error; a candidate's GPU memory share, and whose an out-of-memory error is."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

from archives.records import Status
from evaluators.kernel.faults import is_judge_fault
from evaluators.kernel.gpu_lock import GpuLock
from evaluators.kernel.memory_share import JUDGE_SIDE_OOM, MIN_SHARE, blame, explain, share_for
from sandbox.base import SandboxOutcome
from tests.evaluators.kernel.test_evaluator import _evaluator, _outcome

REFERENCE_OOM = ("correctness", False, "the reference failed on trial 1 (inputs normal): OutOfMemoryError: CUDA out "
                                       "of memory. Tried to allocate 2.00 GiB")
PASSED = [("policy", True, ""), ("compile", True, ""), ("correctness", True, ""), ("timing", True, "")]


class _TimedSandbox:
    """Returns the outcomes it is given, in order, noting when each job started."""

    name = "scripted"

    def __init__(self, *outcomes: SandboxOutcome) -> None:
        self.outcomes = list(outcomes)
        self.jobs, self.started = [], []

    def warnings(self):
        return []

    def run(self, job):
        self.jobs.append(job)
        self.started.append(time.monotonic())
        return self.outcomes.pop(0)


def test_judge_side_failures_are_told_from_the_candidates_own():
    assert is_judge_fault("correctness", REFERENCE_OOM[2])
    assert is_judge_fault("compile", "the reference could not be loaded: OutOfMemoryError: CUDA out of memory")
    assert is_judge_fault("compile", "RuntimeError: CUDA error: all CUDA-capable devices are busy or unavailable")
    assert is_judge_fault("kernels", "recording one forward failed: RuntimeError: CUPTI_ERROR_NOT_INITIALIZED")
    assert is_judge_fault("correctness", f"trial 2 (inputs normal): forward raised {JUDGE_SIDE_OOM} 1.2 GiB, within its "
                                         "share of 10 GiB (other processes used the rest)")
    assert not is_judge_fault("correctness", "trial 2 (inputs normal): forward raised the candidate used more than its "
                                             "share of GPU memory (12 GiB of 10 GiB)")
    assert not is_judge_fault("correctness", "trial 1 (inputs normal): output mismatch at [0, 3]")
    assert not is_judge_fault("timing", "the reference ran 1.6x slower beside the candidate than alone")


def test_a_judge_side_failure_is_retried_once_the_gpu_is_free_and_then_judged_normally():
    sandbox = _TimedSandbox(_outcome([REFERENCE_OOM]), _outcome(PASSED, {"speedup": 1.5, "runtime_ms": 1.0}))
    evaluator, _ = _evaluator(device="cuda", sandbox=sandbox)
    lock = evaluator._slots.lock_path(0)
    held, release_at = threading.Event(), []

    def another_job():  # another candidate's checks hold the GPU (shared) for a moment
        with GpuLock(lock).shared():
            held.set()
            time.sleep(1.0)
            release_at.append(time.monotonic())

    holder = threading.Thread(target=another_job)
    holder.start()
    held.wait(10)
    result = evaluator.evaluate("X = 1\n", label="c")
    holder.join()
    assert result.status == Status.CORRECT and result.fitness == 1.5 and not result.evaluator_error
    assert len(sandbox.jobs) == 2
    assert sandbox.started[1] >= release_at[0], "the retry ran while another job still used the GPU"


def test_a_judge_side_failure_seen_twice_is_the_evaluators_error_not_the_candidates():
    sandbox = _TimedSandbox(_outcome([REFERENCE_OOM]), _outcome([REFERENCE_OOM]))
    evaluator, _ = _evaluator(device="cuda", sandbox=sandbox)
    result = evaluator.evaluate("X = 1\n", label="c")
    assert len(sandbox.jobs) == 2
    assert result.status == Status.ERROR and result.evaluator_error
    assert result.error.startswith("correctness: the reference failed on trial 1")


def test_the_candidates_own_failure_is_judged_once():
    sandbox = _TimedSandbox(_outcome([("correctness", False, "trial 1 (inputs normal): output mismatch")]))
    evaluator, _ = _evaluator(device="cuda", sandbox=sandbox)
    result = evaluator.evaluate("X = 1\n", label="c")
    assert result.status == Status.WRONG and not result.evaluator_error and len(sandbox.jobs) == 1


def test_more_memory_than_its_share_at_import_is_a_wrong_candidate_not_a_failed_build():
    over = blame(9 * 2**30, 2 * 2**30, 10 * 2**30)
    sandbox = _TimedSandbox(_outcome([("policy", True, ""), ("compile", False, over)]),
                            _outcome([("policy", True, ""), ("compile", False, "error: expected ';' (line 3)")]))
    evaluator, _ = _evaluator(device="cuda", sandbox=sandbox)
    hog = evaluator.evaluate("X = 1\n", label="hog")
    assert hog.status == Status.WRONG and not hog.evaluator_error and "more than its share" in hog.error
    assert evaluator.evaluate("X = 2\n", label="typo").status == Status.BUILD_FAILED


def test_each_candidate_gets_a_share_of_the_gpu_by_the_jobs_that_share_it():
    assert share_for(1) is None
    assert share_for(4) == 0.25
    assert share_for(64) == MIN_SHARE
    sandbox = _TimedSandbox(_outcome(PASSED))
    evaluator, _ = _evaluator(device="cuda", sandbox=sandbox)
    evaluator.evaluate("X = 1\n")
    options = json.loads(sandbox.jobs[0].argv[sandbox.jobs[0].argv.index("--options") + 1])
    assert options["memory_share"] == share_for(evaluator._task.evaluate.workers)
    cpu, _ = _evaluator(device="cpu")
    assert cpu.options["memory_share"] is None


def test_an_out_of_memory_error_past_the_share_is_the_candidates_and_within_it_the_judges():
    gib = 2**30
    assert blame(9 * gib, 2 * gib, 10 * gib).startswith("the candidate used more than its share of GPU memory (11 GiB")
    within = blame(1 * gib, 1 * gib, 10 * gib)
    assert within.startswith(JUDGE_SIDE_OOM) and is_judge_fault("correctness", f"trial 1: forward raised {within}")


def test_explain_reads_the_request_from_torchs_message_and_leaves_other_errors_alone():
    class OutOfMemoryError(RuntimeError):
        pass

    cuda = SimpleNamespace(OutOfMemoryError=OutOfMemoryError, current_device=lambda: 0,
                           get_device_properties=lambda _: SimpleNamespace(total_memory=80 * 2**30),
                           memory_reserved=lambda: 9 * 2**30)
    torch = SimpleNamespace(cuda=cuda)
    oom = OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 80 GiB")
    line = explain(torch, oom, 0.125)
    assert line.startswith("the candidate used more than its share of GPU memory (11 GiB of 10 GiB")
    assert explain(torch, ValueError("no"), 0.125) is None
    assert explain(torch, oom, None) is None


def test_the_cuda_runtime_running_out_of_memory_within_the_share_is_the_judges():
    """Seen on an H100 with 16 judges at once: a module load failing with cudaErrorMemoryAllocation
    (torch.AcceleratorError) while the candidate held 0.3 GiB failed an honest candidate as wrong."""

    class AcceleratorError(RuntimeError):
        pass

    class OutOfMemoryError(RuntimeError):
        pass

    cuda = SimpleNamespace(OutOfMemoryError=OutOfMemoryError, current_device=lambda: 0,
                           get_device_properties=lambda _: SimpleNamespace(total_memory=80 * 2**30),
                           memory_reserved=lambda: 2**28)
    torch = SimpleNamespace(cuda=cuda, AcceleratorError=AcceleratorError)
    line = explain(torch, AcceleratorError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously "
                                           "reported"), 0.125)
    assert line.startswith(JUDGE_SIDE_OOM) and is_judge_fault("correctness", f"trial 1: forward raised {line}")
    assert explain(torch, AcceleratorError("CUDA error: an illegal memory access was encountered"), 0.125) is None


def test_more_evaluations_per_gpu_than_its_memory_holds_is_a_warning():
    from evaluators.kernel.evaluator import KernelEvaluator

    evaluator, sandbox = _evaluator(device="cuda")
    task = evaluator._task
    assert task.evaluate.workers * MIN_SHARE <= 1 and not any("share each GPU" in w for w in evaluator.warnings())
    crowded = task.model_copy(update={"evaluate": task.evaluate.model_copy(update={"workers": 16})})
    warnings = KernelEvaluator(crowded, sandbox, gpus=[0]).warnings()
    assert any(w.startswith("16 evaluations share each GPU") for w in warnings)
    assert not any("share each GPU" in w for w in KernelEvaluator(crowded, sandbox, gpus=[0, 1]).warnings())
