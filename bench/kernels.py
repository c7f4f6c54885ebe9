"""The kernel benchmark: evoforge's judge against triton.testing.do_bench, on a GPU.

    python bench/kernels.py [--ops a,b] [--repeats 5] [--workers 6] [--budget-s S] [--out bench/results] [--merge]
    python bench/kernels.py --render bench/results/h100-kernels.json [--add-evaluations RUN.jsonl]   # no GPU

For every op of bench/ops (reference/candidate pairs in KernelBench format):

1. device ceilings (the judge's evaluators/kernel/ceilings.py, measured once) and a baseline
   in a process of its own (bench/baseline.py): the candidate checked against the fp64
   reference, then `triton.testing.do_bench` medians of the candidate and the eager reference;
2. judge: `--repeats` evaluations of every candidate through the real path (KernelEvaluator +
   the process sandbox, a fresh process per evaluation), `--workers` at once as a search runs
   them: checks share the GPU, timing holds it alone (evaluators/kernel/gpu_lock.py), and
   process starts, imports and compilation overlap both. From these: the judge's median and
   confidence interval, the spread over the repeats, eager and torch.compile reference times,
   the roofline floor, seconds per evaluation, the GPU's time held alone, and candidates per
   minute. `--budget-s` starts no evaluation after that many seconds, so a run inside a time
   limit ends with what it measured.

Writes bench/results/<gpu>-kernels.json and bench/results/<gpu>-kernels.md (kernels_report.py
defines every column); `--merge` adds this run's ops to an existing results file (a run per
device call); `--render` summarises a results file again (and can add the evaluations of a run
cut short, from its progress file). Only the judge's own numbers are published as the judge's;
nothing is filled in where a measurement failed: the row says why.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.kernels_report import render_markdown, summarize_op  # noqa: E402
from bench.ops.catalog import OPS, Op, by_name  # noqa: E402


def device_info() -> dict[str, Any]:
    import torch
    import triton

    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "l2_bytes": int(getattr(props, "L2_cache_size", 0)),
            "sms": props.multi_processor_count, "memory_bytes": int(props.total_memory)}


def gpu_slug(name: str) -> str:
    """"NVIDIA H100 80GB HBM3" -> "h100": the file-name prefix of the results."""
    match = re.search(r"\b([A-Z]{1,2}\d{2,4}[A-Z]?)\b", name)
    return (match.group(1) if match else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")).lower()


def run_baseline(ops: list[Op]) -> dict[str, dict[str, Any]]:
    """bench/baseline.py in its own process: {op: {"do_bench_ms", "eager_ms", "correct", ...}}."""
    done = subprocess.run([sys.executable, "-m", "bench.baseline", *[op.name for op in ops]], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    rows = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["op"]] = row
    if done.returncode != 0 or len(rows) != len(ops):
        print(done.stderr[-3000:], file=sys.stderr)
    return rows


# Input distributions of the correctness trials after the first (the CPU test uses the same).
DISTRIBUTIONS = ({"scale": 10.0, "offset": 3.0}, {"scale": 0.1, "offset": -2.0})


def write_task(op: Op, folder: Path, *, compile_reference: bool, timeout: float, ceilings: Path) -> Path:
    """A kernel task.yaml for `op` in `folder` (the reference and candidate copied beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reference.py").write_text(op.reference.read_text())
    (folder / "initial.py").write_text(op.candidate.read_text())
    task = {
        "name": f"bench_{op.name}",
        "kind": "kernel",
        "language": op.language,
        "program": "initial.py",
        "reference": "reference.py",
        "kernel": {"device": "cuda", "bytes": op.bytes, "flops": op.flops, "compile_reference": compile_reference,
                   "inputs": list(DISTRIBUTIONS), "ceilings": str(ceilings)},
        "evaluate": {"timeout_seconds": timeout, "workers": 1},
    }
    path = folder / "task.yaml"
    path.write_text(json.dumps(task, indent=2))  # JSON is YAML
    return path


class Evaluations:
    """One KernelEvaluator (process sandbox) per op, as `agent evolve` builds it; results as plain dicts."""

    def __init__(self, ops: list[Op], workdir: Path, timeout: float, ceilings: Path) -> None:
        from agent.config import load_task
        from evaluators.kernel.evaluator import KernelEvaluator
        from sandbox.process import ProcessSandbox

        self.sandbox = ProcessSandbox()
        self.evaluators = {
            op.name: KernelEvaluator(load_task(write_task(op, workdir / op.name, compile_reference=True,
                                                          timeout=timeout, ceilings=ceilings)), self.sandbox)
            for op in ops
        }

    def evaluate(self, op: Op, label: str) -> dict[str, Any]:
        start = time.perf_counter()
        result = self.evaluators[op.name].evaluate(op.candidate.read_text(), label=label)
        row = asdict(result)
        row["wall_s"] = time.perf_counter() - start
        row["label"] = label
        row["stage_seconds"] = {s["name"]: s["seconds"] for s in row["stages"]}
        row["stages"] = [{k: v for k, v in s.items() if k != "log"} for s in row["stages"]]
        row["feedback"] = row["feedback"][-1500:]
        return row


def evaluate_all(evals: Evaluations, ops: list[Op], repeats: int, workers: int, progress: Path | None = None,
                 on_op: Callable[[str, list[dict[str, Any]]], None] | None = None,
                 deadline: float | None = None) -> tuple[dict[str, list], dict]:
    """`repeats` evaluations of each op, `workers` in flight, queued op after op as a search queues
    its candidates. The evaluators share one lock per GPU (sandbox/gpus.py): checks share the GPU,
    timing holds it alone, and process starts, imports and compilation overlap both. Each finished
    evaluation is appended to `progress` (JSON lines); `on_op(name, rows)` sees each op's
    evaluations once they are all in. No evaluation starts after `deadline` (time.monotonic())."""
    runs: dict[str, list[dict[str, Any]]] = {op.name: [] for op in ops}
    lock = threading.Lock()

    def one(job: tuple[Op, int]) -> dict[str, Any] | None:
        op, index = job
        if deadline is not None and time.monotonic() > deadline:
            return None
        row = evals.evaluate(op, f"{op.name}#{index}")
        metrics = row.get("metrics", {})
        print(f"  {row['label']}: {row['status']} runtime_ms={metrics.get('runtime_ms')} speedup={metrics.get('speedup')}"
              f" {row['wall_s']:.1f}s {row.get('error') or ''}", flush=True)
        with lock:
            runs[op.name].append(row)
            if progress is not None:
                with progress.open("a") as fh:
                    fh.write(json.dumps(row, default=str) + "\n")
            if on_op is not None and len(runs[op.name]) == repeats:
                on_op(op.name, sorted(runs[op.name], key=lambda r: r["label"]))
        return row

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = [r for r in pool.map(one, [(op, index) for op in ops for index in range(repeats)]) if r is not None]
    wall = time.perf_counter() - start
    runs = {name: sorted(rs, key=lambda r: r["label"]) for name, rs in runs.items() if rs}
    gpu_stages = ("correctness", "kernels", "timing", "recheck", "roofline")
    held = [sum(r["stage_seconds"].get(s, 0.0) for s in gpu_stages) for r in rows]
    alone = [float(r["metrics"].get("gpu_alone_s", 0.0)) for r in rows]
    throughput = {
        "evaluations": len(rows), "workers": workers, "wall_s": wall, "per_minute": 60 * len(rows) / wall,
        "mean_evaluation_s": statistics.mean(r["wall_s"] for r in rows) if rows else None,
        "median_compile_stage_s": statistics.median(r["stage_seconds"].get("compile", 0.0) for r in rows) if rows else None,
        "median_gpu_stages_s": statistics.median(held) if rows else None,
        "median_gpu_alone_s": statistics.median(alone) if rows else None,
        "gpu_alone_share_of_wall": sum(alone) / wall,
        "cut_by_deadline": len(rows) < len(ops) * repeats,
    }
    return runs, throughput


def measure_ceilings(path: Path) -> dict[str, Any]:
    """The judge's device ceilings, measured once here (a process of its own) and cached at `path`."""
    done = subprocess.run([sys.executable, "-m", "evaluators.kernel.ceilings", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/kernels.py")
    parser.add_argument("--ops", default="", help="comma-separated op names (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="evaluations of each candidate")
    parser.add_argument("--workers", type=int, default=6, help="evaluations in flight at once")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no evaluation after this many seconds (the rest is reported as not run)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per evaluation")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--merge", action="store_true", help="keep the other ops' rows of an existing results file")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="no GPU: summarise a results file again and rewrite it and its table")
    parser.add_argument("--add-evaluations", metavar="JSONL",
                        help="with --render: evaluations from a run's progress file, for ops the results file lacks "
                             "(a run cut short by a time limit)")
    args = parser.parse_args(argv)
    ops = [by_name(n) for n in args.ops.split(",") if n] or list(OPS)
    if args.render:
        target = Path(args.render)
        results = json.loads(target.read_text())
        if args.add_evaluations:
            add_partial_runs(results, Path(args.add_evaluations))
        write_results(results, target)
        print(target.with_suffix(".md").read_text())
        return 0

    import torch

    if not torch.cuda.is_available():
        print("bench/kernels.py needs a CUDA GPU (the CPU checks are tests/bench/test_ops_cpu.py)", file=sys.stderr)
        return 2
    info = device_info()
    slug = gpu_slug(info["name"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{slug}-kernels.json"
    results: dict[str, Any] = {"device": info, "repeats": args.repeats, "runs": {}, "baseline": {},
                               "throughput_runs": [], "notes": []}
    if args.merge and target.is_file():
        results = {**json.loads(target.read_text()), "device": info}
    print(f"device: {info['name']} ({slug}); torch {info['torch']}, triton {info['triton']}", flush=True)
    def save(name: str | None = None, rows: list[dict[str, Any]] | None = None) -> None:
        if name is not None:
            results["runs"][name] = rows
        write_results(results, target)

    with tempfile.TemporaryDirectory(prefix="evoforge-bench-") as tmp:
        ceilings_path = Path(tmp) / "ceilings.json"
        print("device ceilings...", flush=True)
        results["ceilings"] = measure_ceilings(ceilings_path) or results.get("ceilings", {})
        print("baseline (do_bench, eager)...", flush=True)
        results["baseline"].update(run_baseline(ops))
        evals = Evaluations(ops, Path(tmp), args.timeout, ceilings_path)
        print(f"judge: {args.repeats} evaluations of {len(ops)} candidates, {args.workers} at once...", flush=True)
        deadline = time.monotonic() + args.budget_s if args.budget_s else None
        runs, throughput = evaluate_all(evals, ops, args.repeats, args.workers,
                                        out / f"{slug}-kernels-evaluations.jsonl", on_op=save, deadline=deadline)
        for name, rows in runs.items():
            if len(rows) < args.repeats:
                results["runs"][name] = rows
                results["notes"].append(f"{name}: {len(rows)} of {args.repeats} evaluations; --budget-s ended the "
                                        "run before the others started.")
    results["throughput_runs"].append({**throughput, "ops": [op.name for op in ops],
                                       "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    save()
    print(target.with_suffix(".md").read_text(), flush=True)
    return 0


def write_results(results: dict[str, Any], target: Path) -> None:
    """Summarise every op's evaluations into rows; write the JSON and, beside it, the markdown table."""
    catalog = {o.name: {"name": o.name, "kind": o.kind, "language": o.language} for o in OPS}
    results["rows"] = [summarize_op(catalog[op.name], results["baseline"].get(op.name, {}), results["runs"][op.name])
                       for op in OPS if op.name in results["runs"]]
    target.write_text(json.dumps(results, indent=2, default=str))
    target.with_suffix(".md").write_text(render_markdown(results))


def add_partial_runs(results: dict[str, Any], progress: Path) -> None:
    """Evaluations of ops missing from `results`, read from a progress file (labels "op#index")."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in progress.read_text().splitlines():
        row = json.loads(line)
        name = row["label"].split("#")[0]
        if name not in results["runs"]:
            found.setdefault(name, []).append(row)
    for name, rows in found.items():
        results["runs"][name] = sorted(rows, key=lambda r: r["label"])
        results["notes"].append(f"{name}: {len(rows)} of {results.get('repeats', '?')} evaluations; the device call's "
                                "time limit ended the run before the others finished.")


if __name__ == "__main__":
    sys.exit(main())
