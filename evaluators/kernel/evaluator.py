"""Evaluate a kernel task's candidate: the judge (harness.py) in a sandbox job, its verdict as an EvalResult.

Controller side: no torch here. Per candidate, one sandbox job runs
`python -m evaluators.kernel.harness` with the candidate file, the task's options and a fresh
secret seed (in the job's environment, which the harness takes and blanks before anything
runs). On a GPU machine every job is given a GPU round robin and that GPU's machine-wide lock
(sandbox/gpus.py; mounted read-only into containers): jobs compile in parallel on the CPUs,
share the GPU for checks and hold it alone only to time, on every sandbox backend. Statuses:

- correct: every stage passed; fitness = speedup over the reference (eager) when timed.
  Without a GPU nothing is timed: fitness is 0.0 for every correct candidate (no speedup is
  pretended) and the feedback says "timing not measured"; CUDA candidates are then only
  compiled (metric correctness_checked = 0). A task's scorer plugin, when set, makes the
  fitness from the judge's metrics instead (its descriptors join the built-in ones); a scorer
  that fails makes the result an error of the evaluator's (`evaluator_error`);
- build_failed: not valid Python, or the candidate did not compile: at import (CUDA builds), at a
  call (Triton's CompilationError; in Triton's interpreter, the errors the compiler would have
  raised, compile_errors.py);
- wrong: rejected by the policy, a correctness trial, the kernel check, timing or roofline
  checks, with the reason;
- timeout: the job's or a stage's time limit; error: the candidate's process crashed, the
  reference failed, or the job ended without a verdict. A reference that fails (it does not
  load, or raises on a trial's inputs) is the task's fault, not the candidate's:
  `evaluator_error` is set, and on the initial program the run stops.

A failure on the judge's side (faults.py: the reference failing, device busy, profiler, the GPU
out of memory while the candidate held no more than its share) is judged once more when the GPU
is free (its lock taken exclusively, then released), and if it happens again is returned with
`evaluator_error` set. On CUDA each candidate's process gets a share of its GPU's memory
(memory_share.py: 1 / the jobs that may share the GPU, at least 1/8).

The reference's torch.compile time is measured by one job at a time and reused (speedup_vs_compile):
once per problem and device, as it is kept in a JSON file (baseline_cache.py) that later runs read
when they start; device ceilings measured by a job are cached in a JSON file too.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archives.records import EvalResult, Program, StageResult, Status
from evaluators.base import join_feedback, numbers_and_text, read_job, stages_from, syntax_failure
from evaluators.kernel import json_cache
from evaluators.kernel.baseline_cache import Baseline, BaselineCache, baseline_key, cache_path
from evaluators.kernel.candidate_inbox import CANDIDATE
from evaluators.kernel.compile_errors import BUILD_FAILED
from evaluators.kernel.descriptors import KERNEL_DESCRIPTORS
from evaluators.kernel.faults import is_judge_fault
from evaluators.kernel.gpu_lock import GpuLock
from evaluators.kernel.memory_share import MIN_SHARE, OVER_SHARE, share_for
from evaluators.kernel.own_share import own_share_for
from evaluators.kernel.priming import WAIT_S as PRIME_WAIT_S
from evaluators.kernel.priming import Primed, PrimedJobs
from evaluators.scorers import Score, ScorerError
from sandbox.base import Limits, Sandbox, SandboxError, SandboxJob
from sandbox.gpus import gate_path, shared_slots, visible_gpus

if TYPE_CHECKING:
    from agent.config import TaskConfig

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
DEFAULT_CEILINGS = Path.home() / ".cache" / "evoforge" / "ceilings.json"


class KernelEvaluator:
    """Evaluates candidates of a kernel task; `evaluate` is blocking and thread-safe."""

    def __init__(self, task: TaskConfig, sandbox: Sandbox, gpus: list[int] | None = None,
                 scorer: Callable[[dict[str, float]], Score] | None = None, prime: bool | None = None) -> None:
        """`prime`: start each candidate's job before the candidate exists (priming.py); None: as
        the task's `kernel.prime_jobs` says."""
        self._task = task
        self._sandbox = sandbox
        self._scorer = scorer  # a validated scorer (evaluators/scorers.py): it makes the fitness, if set
        kc = task.kind_options
        gpus = visible_gpus() if gpus is None else gpus
        self.device = kc.device if kc.device != "auto" else ("cuda" if gpus else "cpu")
        if self.device == "cuda" and not gpus:
            raise ValueError("kernel.device is 'cuda' but no GPU is visible on this machine")
        self._slots = shared_slots(gpus) if self.device == "cuda" else None
        cfg = task.evaluate
        self._limits = Limits(wall_seconds=cfg.timeout_seconds, memory_mb=cfg.memory_mb,
                              max_processes=cfg.max_processes, output_bytes=cfg.output_bytes)
        shape = (kc.cpu_shape or kc.shape) if self.device == "cpu" else kc.shape
        # The judge's own limits sit inside the job's, so it can say which stage ran out of time.
        stage_limit = max(1.0, min(kc.compile_timeout_seconds, 0.8 * cfg.timeout_seconds))
        self.options: dict[str, Any] = {
            "language": task.language, "device": self.device, "trials": kc.trials, "time": self.device == "cuda",
            "target_rel_se": kc.target_rel_se, "max_time_s": kc.timing_seconds, "compile_timeout": stage_limit,
            "run_timeout": max(1.0, min(300.0, 0.5 * cfg.timeout_seconds)), "shape": shape,
            "extra_shapes": [dict(s) for s in kc.odd_shapes], "distributions": [d.model_dump() for d in kc.inputs],
            "atol": kc.atol, "rtol": kc.rtol, "allow_ops": list(kc.allow_ops), "bytes": kc.bytes, "flops": kc.flops,
            "min_own_share": own_share_for(kc.min_own_share, kc.allow_ops),
            "profile": cfg.profile, "compile_reference": kc.compile_reference,
            "ceilings_path": str(kc.ceilings or DEFAULT_CEILINGS),
            # each candidate's share of its GPU's memory, by the jobs that may share it (memory_share.py)
            "memory_share": share_for(-(-cfg.workers // len(gpus))) if self.device == "cuda" else None,
        }
        self._reference = str(Path(task.reference).resolve())
        # What a container backend must show the job, read-only: the judge's packages and the reference's folder.
        packages = [os.path.join(_PACKAGE_ROOT, name) for name in ("evaluators", "sandbox")]
        self._read_paths = (*packages, str(Path(self._reference).parent))
        paths = [_PACKAGE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        self._pythonpath = os.pathsep.join(dict.fromkeys(paths))
        self._lock = threading.Lock()
        self._compile_ref_ms: float | None = None
        self._compile_ref_asked = False  # a job in flight measures it
        self._baselines = BaselineCache(cache_path(self.options["ceilings_path"]))
        self._baseline_key = baseline_key(self._reference, shape, gpus) if self.options["time"] else None
        if self._baseline_key is not None and kc.compile_reference:  # measured by an earlier run on this device
            cached = self._baselines.get(self._baseline_key)
            self._compile_ref_ms = cached.compile_ms if cached is not None else None
        # Primed jobs (priming.py), with a sandbox that can start a job before its candidate exists
        # (the process backend).
        prime = kc.prime_jobs if prime is None else prime
        self._primed = PrimedJobs(cfg.workers, lambda p: self._release_compile_reference(p.options)) \
            if prime and hasattr(sandbox, "start") else None
        self._ceilings: dict[str, Any] | None = None
        self._reference_work: dict[str, Any] | None = None  # the reference's bytes and FLOPs, from the first job

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    def warnings(self) -> list[str]:
        """What this machine cannot give the judge (e.g. GPU locks shared with other runs), and
        more evaluations per GPU than its memory holds (memory_share.py's floor: 8)."""
        lines = [self._slots.warning] if self._slots is not None and self._slots.warning else []
        per_gpu = -(-self._task.evaluate.workers // len(self._slots.gpus)) if self._slots is not None else 0
        if per_gpu * MIN_SHARE > 1:
            lines.append(f"{per_gpu} evaluations share each GPU: past {round(1 / MIN_SHARE)} the GPU's memory can "
                         "run out (judge-side errors, retried and never charged to a candidate, but slower); on an "
                         "H100, 16 at once judged 18 candidates a minute and 8 judged 25 (bench/results/"
                         "h100-throughput.md): lower evaluate.workers")
        return lines

    def evaluate(self, source: str, *, label: str = "", parent: Program | None = None) -> EvalResult:
        """Judge one candidate (`parent` is not used: a kernel is timed on its own)."""
        start = time.monotonic()
        failed = syntax_failure(source, "candidate.py", start)
        if failed is not None:
            return failed
        result, gpu = self._judged(source, label)
        if _judge_fault(result):  # not the candidate's: once more, when no other job uses the GPU
            if gpu is not None:
                with GpuLock(self._slots.lock_path(gpu)).exclusive():
                    pass
            result, _ = self._judged(source, label, gpu)
        return EvalResult(**{**result.__dict__, "seconds": time.monotonic() - start})

    def _judged(self, source: str, label: str, gpu: int | None = None) -> tuple[EvalResult, int | None]:
        """One sandbox job judging the candidate: a primed one when one waits (priming.py), else a
        new one (on `gpu`, or the next GPU round robin)."""
        primed = self._primed.take() if self._primed is not None and gpu is None else None
        self._prime_next()  # it prepares while this candidate is judged
        if primed is not None and primed.deliver(source):
            options, gpu, outcome_of = primed.options, primed.gpu, primed.job.outcome
        else:
            if primed is not None:
                self._primed.cancel(primed)
            job, options, gpu = self._job(label, gpu, {CANDIDATE: source})
            outcome_of = partial(self._sandbox.run, job)
        try:
            outcome = outcome_of()  # SandboxError / SandboxUnavailable: the sandbox's, not the candidate's
            result = self._verdict(outcome)
        finally:
            self._release_compile_reference(options)
        return EvalResult(**{**result.__dict__, "backend": outcome.backend or self._sandbox.name}), gpu

    def _job(self, label: str, gpu: int | None, files: dict[str, str],
             wait_s: float = 0.0) -> tuple[SandboxJob, dict[str, Any], int | None]:
        """A job for the judge, its options and GPU; `wait_s` > 0: a primed job, its candidate to come."""
        options = self._job_options()
        if gpu is None and self._slots:
            gpu = self._slots.pick()
        read_paths = self._read_paths
        if gpu is not None:  # the judge shares the GPU for checks and holds it alone for timing (gpu_lock.py)
            options["gpu_lock"] = lock = self._slots.lock_path(gpu)
            read_paths = (*read_paths, lock, gate_path(lock))
        limits = self._limits
        if wait_s > 0:
            options["await_candidate_s"] = wait_s
            limits = replace(limits, wall_seconds=limits.wall_seconds + wait_s)
        env = {"PYTHONPATH": self._pythonpath, "EVOFORGE_KERNEL_SECRET": str(secrets.randbits(62)), **_THREAD_CAPS}
        argv = (sys.executable, "-m", "evaluators.kernel.harness", "--reference", self._reference,
                "--candidate", CANDIDATE, "--options", json.dumps(options))
        job = SandboxJob(argv=argv, files=files, env=env, limits=limits, gpu=gpu, label=label, read_paths=read_paths)
        return job, options, gpu

    def _prime_next(self) -> None:
        """Start a job for a candidate to come, if the pool has room (priming.py)."""
        if self._primed is None or not self._primed.wants_one():
            return
        job, options, gpu = self._job("primed", None, {}, PRIME_WAIT_S)
        try:
            started = self._sandbox.start(job)  # type: ignore[attr-defined]
        except SandboxError:  # this job cannot start: candidates are judged by jobs of their own, as before
            self._release_compile_reference(options)
            return
        self._primed.keep(Primed(started, options, gpu))

    def _release_compile_reference(self, options: dict[str, Any]) -> None:
        """A job asked for the reference's torch.compile time has ended (answered, cached by
        _remember, or not): another job may be asked."""
        if options["compile_reference"]:
            with self._lock:
                self._compile_ref_asked = False

    def stop_priming(self) -> None:
        """End the primed jobs still waiting for a candidate (the run is over)."""
        if self._primed is not None:
            self._primed.close()

    def _job_options(self) -> dict[str, Any]:
        """The judge's options for one job: the reference's torch.compile time is asked of one job at a time."""
        with self._lock:
            options = dict(self.options)
            if self._compile_ref_ms is not None or self._compile_ref_asked:
                options["compile_reference"] = False
            elif options["compile_reference"]:
                self._compile_ref_asked = True
            if self._ceilings is not None:
                options["ceilings"] = self._ceilings
            if self._reference_work is not None:
                options["reference_work"] = self._reference_work
            return options

    def _verdict(self, outcome: Any) -> EvalResult:
        payload = read_job(outcome, self._limits, "the judge")
        if isinstance(payload, EvalResult):
            return payload
        stages = stages_from(payload, whole_messages=True)
        metrics, text = numbers_and_text(payload)
        self._remember(metrics, text)
        failed = next((s for s in stages if not s.ok), None)
        feedback = _feedback(stages, text, failed)
        descriptors = {k: metrics[k] for k in KERNEL_DESCRIPTORS if k in metrics}
        if failed is not None:
            marked = next((s.get("status") for s in payload.get("stages", []) if not s.get("ok")), None)
            status = Status.BUILD_FAILED if marked == BUILD_FAILED else _status_of(failed)
            judge_fault = is_judge_fault(failed.name, failed.message)  # faults.py: never the candidate's
            status = Status.ERROR if judge_fault else status
            error = f"{failed.name}: {failed.message}" if failed.message else f"stage {failed.name} failed"
            return EvalResult(status, metrics=metrics, descriptors=descriptors, feedback=feedback, error=error,
                              stages=stages, evaluator_error=judge_fault)
        if self._scorer is not None:
            try:
                score = self._scorer(dict(metrics))
            except ScorerError as exc:
                return EvalResult(Status.ERROR, metrics=metrics, descriptors=descriptors, error=str(exc),
                                  feedback=join_feedback([str(exc), feedback]), stages=stages, evaluator_error=True)
            fitness, descriptors = score.fitness, {**descriptors, **score.descriptors}
        elif "speedup" in metrics:
            fitness = metrics["speedup"]
        else:
            fitness = 0.0
            feedback = join_feedback([feedback, "timing not measured (no GPU): every correct candidate gets fitness 0"])
        return EvalResult(Status.CORRECT, fitness=fitness, metrics=metrics, descriptors=descriptors,
                          feedback=feedback, stages=stages)

    def _remember(self, metrics: dict[str, float], text: dict[str, str]) -> None:
        """Cache the reference's torch.compile time, its bytes and FLOPs, and measured device
        ceilings (what later jobs need not measure again); fill speedup_vs_compile."""
        with self._lock:
            if "compile_ref_ms" in metrics and self._compile_ref_ms is None:
                self._compile_ref_ms = metrics["compile_ref_ms"]
                if self._baseline_key is not None:
                    self._baselines.put(self._baseline_key, Baseline(self._compile_ref_ms, metrics.get("reference_ms")))
            if self._compile_ref_ms is not None and "runtime_ms" in metrics and "compile_ref_ms" not in metrics:
                metrics["compile_ref_ms"] = self._compile_ref_ms
                metrics["speedup_vs_compile"] = self._compile_ref_ms / metrics["runtime_ms"]
            if "ceilings" in text and self._ceilings is None:
                try:
                    self._ceilings = json.loads(text.pop("ceilings"))
                    json_cache.put(Path(self.options["ceilings_path"]), str(self._ceilings.get("device", "unknown")),
                                   self._ceilings)
                except (ValueError, OSError):
                    pass
            text.pop("ceilings", None)
            if "reference_work" in text and self._reference_work is None:
                try:
                    work = json.loads(text["reference_work"])
                    if all(isinstance(work.get(k), (int, float)) for k in ("bytes", "flops")):
                        self._reference_work = {"bytes": work["bytes"], "flops": work["flops"],
                                                "dtype": str(work.get("dtype", "float32"))}
                except ValueError:
                    pass
            text.pop("reference_work", None)


_THREAD_CAPS = {name: str(max(1, min(4, os.cpu_count() or 1))) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
"""CPU threads per process of a kernel job (the judge's and the candidate's: child.py passes
them on). torch otherwise starts a thread per core in each, and on a host of 64-128 cores two
processes' threads pass the job's process limit (Limits.max_processes counts threads)."""


def _judge_fault(result: EvalResult) -> bool:
    """Whether a result failed on the judge's side (faults.py): a stage, not the scorer."""
    failed = next((s for s in result.stages if not s.ok), None)
    return failed is not None and result.evaluator_error and is_judge_fault(failed.name, failed.message)


def _status_of(stage: StageResult) -> str:
    message = stage.message
    if message.startswith(("no answer within", "timing did not finish within")):
        return Status.TIMEOUT
    if message.startswith(("the reference", "the candidate's process was killed", "the candidate's process exited")):
        return Status.ERROR
    if stage.name == "compile" and OVER_SHARE not in message:  # too much memory at import built fine: wrong
        return Status.BUILD_FAILED
    return Status.WRONG


def _feedback(stages: tuple[StageResult, ...], text: dict[str, str], failed: StageResult | None) -> str:
    parts = []
    if failed is not None:
        parts.append(f"{failed.name} failed: {failed.message}")
        if failed.log.strip():
            parts.append(f"log (end):\n{failed.log.strip()[-1500:]}")
    for key in ("worst_mismatch", "correctness", "shapes", "timing", "profile", "notes"):
        if text.get(key):
            parts.append(f"{key}: {text[key]}")
    parts.extend(f"{s.name}: {s.message}" for s in stages if s.ok and s.message and s.name in ("roofline", "kernels"))
    if text.get("output"):
        parts.append(f"the candidate printed (end):\n{text['output'][-1000:]}")
    return join_feedback(parts)
