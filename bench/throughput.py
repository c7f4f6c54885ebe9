"""How many honest candidates a minute the kernel judge gets through, and where the time goes.

    python bench/throughput.py [--n 40] [--workers 8] [--op softmax] [--budget-s S] [--device auto|cuda|cpu]
                               [--out bench/results] [--no-compile-reference] [--no-profiler-warmup]
                               [--priming on|off] [--inject-broken]

N distinct honest candidates of one op of bench/ops (variants of its candidate.py: num_warps,
BLOCK, exp or exp2, division or a reciprocal, num_stages; each source differs and all compute
the same function) judged through the real path, as `agent evolve` runs them: one
KernelEvaluator with the process sandbox, `--workers` evaluations in flight (a worker takes the
next candidate as soon as its last verdict is in, as the controller does). The default op is
softmax at 8192x4096 (the shape the issue measured). `--device cpu` runs Triton's interpreter
at the op's tiny shape (the task's cpu_shape), without timing: only to test this script. On a
GPU the device ceilings are measured before the clock starts (a run measures them once per
machine); the reference's torch.compile time is measured by the first job, as in a run, unless
`--no-compile-reference`.

Reported (bench/results/<gpu>-throughput.json and .md): candidates per minute (wall from the
first submission to the last verdict), how busy the GPU was (the judge's `gpu_alone_s` summed
over wall: the GPU held exclusively; the union of the GPU stages' intervals, rebuilt from the
stage seconds ending at each verdict; and, with nvidia-smi, its utilization sampled every
100 ms), the median of every stage's seconds, `gpu_wait_s`, the queue and submission-to-verdict
seconds, and every candidate's status (a candidate not judged correct is listed with its reason).
`--inject-broken` adds one wrong candidate, to show such a row is reported and not dropped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.kernels import device_info, gpu_slug, measure_ceilings, write_task  # noqa: E402
from bench.ops.catalog import Op, by_name  # noqa: E402
from bench.throughput_report import render_markdown, summarize  # noqa: E402

# The benchmark shape per op where the issue measured another than the reference's own, with
# the bytes and FLOPs at that shape (bench/ops/catalog.py's rules).
SHAPES = {"softmax": ({"batch_size": 8192, "dim": 4096}, 2 * 4 * 8192 * 4096, 5 * 8192 * 4096)}
BROKEN_LABEL = "broken"


@dataclass(frozen=True)
class Candidate:
    label: str
    variant: str  # what this one changes, in words
    source: str
    honest: bool = True


# ----- candidates ---------------------------------------------------------------------------

_WARPS_LINE = "warps = 16 if block >= 8192 else 8 if block >= 2048 else 4"
_BLOCK_LINE = "block = triton.next_power_of_2(cols)"
_EXP_LINE = "e = tl.exp(x)"
_DIV_LINE = "y = e / tl.sum(e, axis=0)"
_LAUNCH = "BLOCK=block, num_warps=warps)"


def softmax_variants(base: str, n: int) -> list[Candidate]:
    """`n` distinct honest variants of bench/ops/softmax/candidate.py (every one computes softmax)."""
    for needle in (_WARPS_LINE, _BLOCK_LINE, _EXP_LINE, _DIV_LINE, _LAUNCH):
        if needle not in base:
            raise ValueError(f"the softmax candidate changed: {needle!r} not found; update bench/throughput.py")
    # the code variants vary fastest (a CPU run of a few covers them), then num_warps, then num_stages
    axes = itertools.product((1, 2, 3), (4, 8, 16, 2, 32), (1, 2), ("exp", "exp2"), ("div", "recip"))
    out = []
    for index, (stages, warps, grow, exp, div) in enumerate(itertools.islice(itertools.cycle(axes), n)):
        source = base.replace(_WARPS_LINE, f"warps = {warps}")
        if grow > 1:  # a wider block than the row: masked lanes, same answer
            source = source.replace(_BLOCK_LINE, f"{_BLOCK_LINE} * {grow}")
        if exp == "exp2":
            source = source.replace(_EXP_LINE, "e = tl.exp2(x * 1.4426950408889634)")
        if div == "recip":
            source = source.replace(_DIV_LINE, "y = e * (1.0 / tl.sum(e, axis=0))")
        source = source.replace(_LAUNCH, f"BLOCK=block, num_warps=warps, num_stages={stages})")
        variant = f"num_warps={warps} BLOCK=next_pow2(cols)*{grow} {exp} {div} num_stages={stages}"
        if index >= 120:  # every combination used once: the rest differ by a tag (same kernels)
            source = f"# throughput variant {index}\n{source}"
            variant += f" (tag {index})"
        out.append(Candidate(f"c{index:03d}", variant, source))
    return out


def broken_softmax(base: str) -> Candidate:
    """A wrong softmax (the sum is off by one), to show a rejected row is reported with its reason."""
    source = base.replace(_DIV_LINE, "y = e / (tl.sum(e, axis=0) + 1.0)")
    return Candidate(BROKEN_LABEL, "denominator + 1 (wrong on purpose)", source, honest=False)


VARIANTS = {"softmax": (softmax_variants, broken_softmax)}


def candidates_for(op: Op, n: int, inject_broken: bool) -> list[Candidate]:
    make, broken = VARIANTS[op.name]
    base = op.candidate.read_text()
    found = make(base, n)
    if len({c.source for c in found}) != len(found):
        raise AssertionError("two candidates have the same source")
    if inject_broken:
        found.insert(min(1, len(found)), broken(base))
    return found


# ----- the task and the evaluator -------------------------------------------------------------

def build_evaluator(op: Op, folder: Path, device: str, workers: int, ceilings: Path,
                    compile_reference: bool = True, prime: bool | None = None) -> Any:
    """A KernelEvaluator for `op` with the process sandbox, configured as `agent evolve` with
    `evaluate.workers = workers` would build it (bench/kernels.py's task, at this script's shape)."""
    from agent.config import load_task
    from evaluators.kernel.evaluator import KernelEvaluator
    from sandbox.process import ProcessSandbox

    path = write_task(op, folder, compile_reference=compile_reference, timeout=600.0, ceilings=ceilings)
    task = json.loads(path.read_text())
    task["kernel"]["device"] = device
    task["kernel"]["cpu_shape"] = dict(op.tiny)
    if device == "cuda" and op.name in SHAPES:
        task["kernel"]["shape"], task["kernel"]["bytes"], task["kernel"]["flops"] = SHAPES[op.name]
    task["evaluate"]["workers"] = workers
    path.write_text(json.dumps(task, indent=2))
    return KernelEvaluator(load_task(path), ProcessSandbox(), prime=prime)


def row_of(candidate: Candidate, result: Any, started: float, finished: float, origin: float) -> dict[str, Any]:
    """One candidate's row: status, reason, stage seconds, judge metrics, and when it ran (`origin`:
    the first submission; `started`: a worker took it; `finished`: its verdict, on one clock)."""
    stages = [{"name": s.name, "ok": s.ok, "seconds": s.seconds, "message": s.message} for s in result.stages]
    metrics = dict(result.metrics)
    failed = next((s for s in stages if not s["ok"]), None)
    reason = result.error or (f"{failed['name']}: {failed['message']}" if failed else None)
    if result.status != "correct" and not reason:
        lines = (result.feedback or "").strip().splitlines()
        reason = lines[-1] if lines else "(the judge gave no reason)"
    return {
        "label": candidate.label, "variant": candidate.variant, "honest": candidate.honest,
        "status": str(result.status), "reason": reason if result.status != "correct" else None,
        "evaluator_error": bool(result.evaluator_error),
        "stage_seconds": {s["name"]: s["seconds"] for s in stages}, "stages": stages,
        "gpu_wait_s": metrics.get("gpu_wait_s"), "gpu_alone_s": metrics.get("gpu_alone_s"),
        "runtime_ms": metrics.get("runtime_ms"), "speedup": metrics.get("speedup"),
        "compile_s": metrics.get("compile_s"), "timing_reps": metrics.get("timing_reps"),
        "queued_s": started - origin, "submit_to_verdict_s": finished - started,
        "started_at_s": started - origin, "verdict_at_s": finished - origin,
    }


def crashed_row(candidate: Candidate, exc: BaseException, started: float, finished: float,
                origin: float) -> dict[str, Any]:
    """A row for an evaluation that raised (the sandbox's failure): reported, never dropped."""
    return {"label": candidate.label, "variant": candidate.variant, "honest": candidate.honest, "status": "error",
            "reason": f"the evaluation raised {type(exc).__name__}: {exc}", "evaluator_error": True,
            "stage_seconds": {}, "stages": [], "gpu_wait_s": None, "gpu_alone_s": None, "runtime_ms": None,
            "speedup": None, "compile_s": None, "timing_reps": None, "queued_s": 0.0,
            "submit_to_verdict_s": finished - started, "started_at_s": started - origin,
            "verdict_at_s": finished - origin}


def run_all(evaluator: Any, candidates: list[Candidate], workers: int,
            budget_s: float | None) -> tuple[list[dict[str, Any]], list[str], float, float]:
    """Judge every candidate, `workers` at once; (rows, labels never submitted, origin, end) with
    origin and end on time.monotonic(): the first submission and the last verdict."""
    origin = time.monotonic()
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    lock = threading.Lock()

    def one(candidate: Candidate) -> None:
        started = time.monotonic()
        if budget_s is not None and started - origin > budget_s:
            with lock:
                skipped.append(candidate.label)
            return
        try:
            result = evaluator.evaluate(candidate.source, label=candidate.label)
            row = row_of(candidate, result, started, time.monotonic(), origin)
        except Exception as exc:  # noqa: BLE001 - a failed evaluation is a row too
            row = crashed_row(candidate, exc, started, time.monotonic(), origin)
        print(f"  {row['label']}: {row['status']} {row['submit_to_verdict_s']:.1f}s "
              f"runtime_ms={row['runtime_ms']} {row['reason'] or ''}", flush=True)
        with lock:
            rows.append(row)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, candidates))
    end = max([origin] + [origin + r["verdict_at_s"] for r in rows])
    return sorted(rows, key=lambda r: r["label"]), skipped, origin, end


# ----- GPU utilization ------------------------------------------------------------------------

class SmiSampler:
    """nvidia-smi's utilization.gpu every 100 ms in a background thread, stamped on time.monotonic()."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int, float]] = []  # (time, gpu index, percent)
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        if shutil.which("nvidia-smi") is None:
            return False
        self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits",
                                       "-lms", "100"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return True

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and parts[0].isdigit():
                try:
                    self.samples.append((time.monotonic(), int(parts[0]), float(parts[1])))
                except ValueError:
                    continue

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def summary(self, origin: float, end: float) -> dict[str, Any] | None:
        inside = [s for s in self.samples if origin <= s[0] <= end]
        if not inside:
            return None
        values = [s[2] for s in inside]
        return {"samples": len(values), "mean_pct": statistics.mean(values), "median_pct": statistics.median(values),
                "share_above_0": sum(v > 0 for v in values) / len(values), "gpus": sorted({s[1] for s in inside})}


# ----- the run --------------------------------------------------------------------------------

def resolve_device(choice: str) -> str:
    if choice != "auto":
        return choice
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def describe_device(device: str) -> dict[str, Any]:
    if device == "cuda":
        return device_info()
    import platform

    import torch
    import triton

    return {"name": f"cpu ({platform.machine()}, Triton interpreter)", "torch": torch.__version__,
            "triton": triton.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/throughput.py")
    parser.add_argument("--n", type=int, default=40, help="distinct honest candidates")
    parser.add_argument("--workers", type=int, default=8, help="evaluations in flight at once")
    parser.add_argument("--op", default="softmax", help=f"an op of bench/ops with variants ({', '.join(VARIANTS)})")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--budget-s", type=float, default=None,
                        help="submit no candidate after this many seconds; report what was measured")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                        help="cpu: Triton's interpreter at the op's tiny shape, no timing (to test this script)")
    parser.add_argument("--no-compile-reference", action="store_true",
                        help="do not time torch.compile of the reference (agent evolve does, once per run)")
    parser.add_argument("--no-profiler-warmup", action="store_true",
                        help="the candidate's process starts the profiler only for the kernels stage (as before "
                             "evaluators/kernel/profiler_warmup.py), to measure what the warm-up saves")
    parser.add_argument("--priming", choices=("on", "off"), default="off",
                        help="start each candidate's job before the candidate exists (kernel.prime_jobs, "
                             "evaluators/kernel/priming.py; off by default, as in agent evolve)")
    parser.add_argument("--inject-broken", action="store_true",
                        help="add one wrong candidate: it must be reported with its reason")
    args = parser.parse_args(argv)
    if args.n < 1 or args.workers < 1:
        parser.error("--n and --workers must be at least 1")
    if args.op not in VARIANTS:
        parser.error(f"no candidate variants for op {args.op!r}; known: {', '.join(VARIANTS)}")
    op = by_name(args.op)
    candidates = candidates_for(op, args.n, args.inject_broken)
    device = resolve_device(args.device)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("bench/throughput.py: --device cuda but no GPU is visible", file=sys.stderr)
            return 2
    info = describe_device(device)
    slug = gpu_slug(info["name"]) if device == "cuda" else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    with tempfile.TemporaryDirectory(prefix="evoforge-throughput-") as tmp:
        ceilings = Path(tmp) / "ceilings.json"
        if device == "cuda":
            print("device ceilings (measured before the clock starts)...", flush=True)
            if not measure_ceilings(ceilings):
                notes.append("The device ceilings could not be measured beforehand: the first job measured them.")
        evaluator = build_evaluator(op, Path(tmp) / op.name, device, args.workers, ceilings,
                                    compile_reference=not args.no_compile_reference,
                                    prime=args.priming == "on")
        if args.no_profiler_warmup:
            evaluator.options["profiler_warmup"] = False
        shape = evaluator.options["shape"] or "the reference's own"
        print(f"{info['name']}: {len(candidates)} candidates of {op.name} at {shape}, {args.workers} at once...",
              flush=True)
        sampler = SmiSampler()
        sampling = device == "cuda" and sampler.start()
        try:
            rows, skipped, origin, end = run_all(evaluator, candidates, args.workers, args.budget_s)
        finally:
            sampler.stop()
            evaluator.stop_priming()
    if device == "cuda" and not sampling:
        notes.append("nvidia-smi was not found: the GPU's utilization was not sampled.")
    if skipped:
        notes.append(f"--budget-s {args.budget_s:g} ended submissions: {len(skipped)} candidates not submitted.")
    if device == "cpu":
        notes.append("CPU (Triton interpreter, tiny shape, no timing): tests this script; the numbers say nothing of "
                     "a GPU's throughput.")
    summary = summarize(rows, skipped, end - origin, args.workers, sampler.summary(origin, end) if sampling else None,
                        gpu=device == "cuda")
    results = {"device": info, "judge_device": device, "op": op.name, "shape": shape,
               "argv": " ".join(sys.argv[1:] if argv is None else argv), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
               "summary": summary, "rows": rows, "not_submitted": skipped, "notes": notes}
    target = out / f"{slug}-throughput.json"
    target.write_text(json.dumps(results, indent=2, default=str))
    target.with_suffix(".md").write_text(render_markdown(results))
    print(target.with_suffix(".md").read_text(), flush=True)
    wrong_injected = [r for r in rows if not r["honest"] and r["status"] == "correct"]
    return 0 if summary["all_honest_correct"] and not wrong_injected else 1


if __name__ == "__main__":
    sys.exit(main())
