"""The kernel judge: is a candidate right, how fast is it, and could it have cheated?

`judge(reference_path, candidate_path, options)` runs the whole protocol of KERNEL_EVAL.md
and returns the program harness's payload shape:

    {"stages": [{"name", "ok", "seconds", "message", "log"}], "metrics": {...}, "text": {...}}

Stages, in order; the first that fails ends the judgement with `text["error"]` (one line):

- policy: the static policy (policy.py) on the candidate's source;
- compile: the candidate's process (runner.py, a fresh process with a clean environment)
  imports the candidate (CUDA builds here; compile-only without a GPU) and calls it once
  (Triton compiles here); the guards (guards.py) then check nothing was tampered with;
- correctness: `trials` trials at the benchmark shape (fresh secret seeds for inputs and
  weights, the task's input distributions in turn, the last one run twice with differently
  poisoned memory), plus one per extra shape (without any: two smaller shapes, not powers of two,
  derived from the reference's sizes, where it runs at them); every output compared here, in this process,
  with the reference run in float64 (reference.py, correctness.py);
- kernels (GPU): the profiler shows the candidate's own kernels ran, and no vendor library;
- timing (GPU): reference and candidate interleaved in the candidate's process (timing.py),
  outputs of timed calls checked, statistics computed here; the reference also timed alone
  here, and torch.compile'd, out of the candidate's reach: where the reference ran more than
  `reference_drift` slower beside the candidate, its time alone is what the speedup divides
  (a candidate cannot gain by slowing it), and 1.5x slower rejects; one more correctness
  trial after timing, then (under 0.1 ms) a CUDA-graph time;
- roofline: a time under 0.8 x the roofline floor is rejected as impossible;
- profile (optional, `profile="ncu"`): Nsight Compute metrics for the next prompt.

Without a GPU (`device="cpu"`): Triton runs in the interpreter (the candidate's process gets
TRITON_INTERPRET=1), CUDA is compiled but not run, and timing is "not measured" (no timing
metrics, never invented). Trusted code may call `judge` in-process (benchmarks);
`python -m evaluators.kernel.harness` wraps it inside the sandbox.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluators.kernel import correctness, descriptors, policy
from evaluators.kernel.inputs import Distribution, derive_seed
from evaluators.kernel.own_share import DEFAULT_MIN_OWN_SHARE
from evaluators.kernel.report import Rejected, Report


@dataclass
class JudgeOptions:
    language: str = "triton"  # "triton" | "cuda"
    device: str = "cuda"  # "cuda" | "cpu"
    trials: int = 5  # correctness trials at the benchmark shape (at least 1)
    seed: int = 0  # the secret seed every trial's seeds derive from
    time: bool = True  # measure timing (on a CUDA device only)
    min_reps: int = 10
    max_reps: int = 2000
    target_rel_se: float = 0.002  # stop repeating once the medians' relative standard error is under this
    flush_l2: bool = True
    profile: str | None = None  # "ncu"
    bytes: float | None = None  # bytes the op must move; None: estimated
    flops: float | None = None  # FLOPs the op must do; None: estimated
    ceilings_path: str | None = None  # JSON cache of measured device ceilings (measured when missing)
    build_dir: str | None = None  # the candidate's build folder; None: a temporary one, removed after
    compile_reference: bool = True  # also time torch.compile of the reference (compile_ref_ms)
    # -- additions beyond the first contract --
    shape: dict[str, Any] | None = None  # module-level constants of the reference to set (the benchmark shape)
    extra_shapes: list[dict[str, Any]] = field(default_factory=list)  # one more correctness trial each
    derive_shapes: bool = True  # no extra_shapes: check two smaller shapes derived from the reference (further_shapes.py)
    distributions: list[dict[str, Any]] = field(default_factory=list)  # {scale, offset, edge} for later trials
    atol: float | None = None  # overrides the dtype table (correctness.py)
    rtol: float | None = None
    allow_ops: list[str] = field(default_factory=list)  # operators the policy lets the candidate call
    ceilings: dict[str, Any] | None = None  # measured ceilings given directly (wins over ceilings_path)
    reference_work: dict[str, Any] | None = None  # the reference's {bytes, flops, dtype} at the benchmark shape, if known
    max_time_s: float = 10.0  # time budget for the timing loop
    compile_timeout: float = 300.0  # seconds for the candidate's import and first call
    run_timeout: float = 300.0  # seconds for any other single request to the candidate's process
    gpu_lock: str | None = None  # the GPU's lock file (gpu_lock.py): shared for checks, exclusive for timing
    reference_drift: float = 0.10  # beside the candidate this much slower than alone: the time alone counts
    memory_share: float | None = None  # CUDA: the share of GPU memory the candidate's process may hold (memory_share.py)
    min_own_share: float = DEFAULT_MIN_OWN_SHARE  # CUDA: the least share of one forward's GPU time in the candidate's own kernels (own_share.py)
    await_candidate_s: float = 0.0  # > 0: a primed job (priming.py): prepare, then wait this long for the candidate
    profiler_warmup: bool = True  # CUDA: start the profiler in the background before the candidate runs (profiler_warmup.py)
    python: str = sys.executable


def judge(reference_path: str, candidate_path: str, options: JudgeOptions) -> dict[str, Any]:
    """Judge one candidate (see the module doc); never raises for anything the candidate does."""
    report = Report()
    created = options.build_dir is None
    build_dir = Path(tempfile.mkdtemp(prefix="evoforge-kernel-") if created else options.build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    try:
        from evaluators.kernel.judgement import Judgement

        Judgement(str(reference_path), str(candidate_path), options, build_dir, report).run()
    except Rejected:
        pass
    finally:
        if created:
            shutil.rmtree(build_dir, ignore_errors=True)
    return report.payload()


def trial_plan(options: JudgeOptions) -> list[dict[str, Any]]:
    """The correctness trials: label, seeds, shape, distribution, and whether to run twice."""
    dists = [Distribution()] + [Distribution.from_dict(d) for d in options.distributions]
    trials = max(1, options.trials)
    plan = []
    for t in range(trials):
        dist = dists[t % len(dists)]
        plan.append({"label": f"trial {t + 1} (inputs {dist.describe()})", "seed": derive_seed(options.seed, "trial", t),
                     "wseed": derive_seed(options.seed, "weights", t), "dist": dist, "shape": None,
                     "repeat": t == trials - 1})
    for k, shape in enumerate(options.extra_shapes):
        shown = ", ".join(f"{key}={value}" for key, value in shape.items())
        plan.append({"label": f"shape {shown}", "seed": derive_seed(options.seed, "shape", k),
                     "wseed": derive_seed(options.seed, "shape-weights", k), "dist": Distribution(),
                     "shape": shape, "repeat": False})
    return plan


def static_metrics(source: str, language: str) -> dict[str, float]:
    return descriptors.static_descriptors(source, language)


def policy_problems(candidate_source: str, reference_source: str, options: JudgeOptions) -> list[str]:
    return policy.check(candidate_source, reference_source, options.language, frozenset(options.allow_ops))


def tolerance_for(dtype: str, options: JudgeOptions, native_err: float) -> tuple[float, float]:
    atol, rtol = correctness.tolerance(dtype, options.atol, options.rtol)
    return max(atol, correctness.NATIVE_SLACK * native_err), rtol


def describe_death(child: Any, when: str) -> str:
    return f"the candidate's process {child.death()} {when}"

