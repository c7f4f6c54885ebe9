"""Check the judge on a GPU: agreement with do_bench, spread, side streams, reuse, the sandbox, ncu.

    python -m evaluators.kernel.gpu_selfcheck OUT_DIR [STEP-PREFIX ...]

Run on a GPU machine (torch + triton; no pydantic needed). Writes OUT_DIR/selfcheck.json and
prints a short table. What it does:

1. judges tasks/softmax_triton and tasks/gelu_cuda in-process at their benchmark shapes (with
   ncu profiling), and times the same candidates with `triton.testing.do_bench` (median, its
   own L2 flush) for comparison;
2. judges the softmax candidate 3 more times: the run-to-run spread of runtime_ms;
3. judges the GPU-only hostile candidates in tests/evaluators/kernel/hostile (side stream,
   no compute) and reports what the judge said;
4. runs the harness in the process sandbox on a GPU (namespaces, dropped capabilities) for
   the softmax candidate, with ncu, to see the sandboxed path and the profiler there, and the
   controller's KernelEvaluator where pydantic is installed;
5. judges the softmax candidate at a small shape (a few microseconds: CUDA-graph time).
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS = {"softmax_triton": ("triton", ROOT / "tasks/softmax_triton"), "gelu_cuda": ("cuda", ROOT / "tasks/gelu_cuda")}


def _judge(language: str, reference: Path, candidate: Path, **extra):
    from evaluators.kernel.judge import JudgeOptions, judge

    options = JudgeOptions(language=language, device="cuda", seed=secrets.randbits(62), max_time_s=5.0, **extra)
    start = time.perf_counter()
    result = judge(str(reference), str(candidate), options)
    result["wall_s"] = time.perf_counter() - start
    return result


def _do_bench(reference: Path, candidate: Path) -> float:
    import importlib.util

    import torch
    import triton.testing

    def load(path, name):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    ref = load(reference, "selfcheck_ref")
    cand = load(candidate, f"selfcheck_cand_{candidate.parent.name}")
    torch.manual_seed(0)
    args = [a.cuda() if isinstance(a, torch.Tensor) else a for a in ref.get_inputs()]
    model = cand.ModelNew(*ref.get_init_inputs()).cuda()
    with torch.no_grad():
        return float(triton.testing.do_bench(lambda: model(*args), return_mode="median"))


def _sandboxed(language: str, folder: Path) -> dict:
    from sandbox.base import Limits, SandboxJob
    from sandbox.channel import decode_result
    from sandbox.process import ProcessSandbox

    box = ProcessSandbox()
    options = {"language": language, "device": "cuda", "max_time_s": 3.0, "profile": "ncu", "compile_reference": False}
    job = SandboxJob(argv=(sys.executable, "-m", "evaluators.kernel.harness", "--reference",
                           str(folder / "reference.py"), "--candidate", "candidate.py", "--options", json.dumps(options)),
                     files={"candidate.py": (folder / "initial.py").read_text()},
                     env={"PYTHONPATH": str(ROOT), "EVOFORGE_KERNEL_SECRET": str(secrets.randbits(62))},
                     limits=Limits(wall_seconds=240, memory_mb=32768, max_processes=256), gpu=0,
                     read_paths=(str(ROOT / "evaluators"), str(ROOT / "sandbox"), str(folder)))
    outcome = box.run(job)
    return {"warnings": box.warnings(), "exit": outcome.exit_code, "killed": outcome.killed_reason,
            "result": decode_result(outcome.result), "stderr": outcome.stderr[-3000:]}


def _brief(result: dict) -> dict:
    m = result.get("metrics", {})
    keys = ("runtime_ms", "runtime_ms_ci_low", "runtime_ms_ci_high", "runtime_rel_spread", "reference_ms",
            "reference_alone_ms", "compile_ref_ms", "speedup", "speedup_vs_compile", "graph_ms", "roofline_floor_ms",
            "roofline_fraction", "launches", "block_size", "num_warps", "compile_s", "time_s", "timing_reps",
            "ncu_dram_pct", "ncu_sm_pct", "ncu_occupancy_pct", "ncu_registers", "ncu_spills", "max_abs_err")
    return {"stages": [(s["name"], s["ok"], round(s["seconds"], 2), s["message"][:200]) for s in result.get("stages", [])],
            "metrics": {k: m[k] for k in keys if k in m}, "error": result.get("text", {}).get("error"),
            "text": {k: v[:400] for k, v in result.get("text", {}).items() if k != "ceilings"},
            "wall_s": result.get("wall_s")}


def _small_softmax(out: Path) -> Path:
    """The softmax task's reference at a small shape (a kernel of a few microseconds)."""
    folder = out / "small"
    folder.mkdir(exist_ok=True)
    text = (TASKS["softmax_triton"][1] / "reference.py").read_text()
    text = text.replace("batch_size = 4096", "batch_size = 256").replace("dim = 8192", "dim = 1024")
    (folder / "reference.py").write_text(text)
    return folder / "reference.py"


def _evaluator(folder: Path) -> dict:
    """The controller's KernelEvaluator (needs pydantic) with the process sandbox."""
    from agent.config import load_task
    from evaluators.kernel.evaluator import KernelEvaluator
    from sandbox.process import ProcessSandbox

    evaluator = KernelEvaluator(load_task(folder / "task.yaml"), ProcessSandbox())
    result = evaluator.evaluate((folder / "initial.py").read_text())
    return {"status": result.status, "fitness": result.fitness, "error": result.error,
            "metrics": result.metrics, "descriptors": result.descriptors, "seconds": result.seconds,
            "feedback": result.feedback[:1500]}


def main(out_dir: str, only: list[str]) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    softmax = TASKS["softmax_triton"][1]
    hostile = ROOT / "tests/evaluators/kernel/hostile"
    steps = [
        ("sandboxed_softmax", lambda: _sandboxed("triton", softmax)),
        ("softmax", lambda: _judge("triton", softmax / "reference.py", softmax / "initial.py", profile="ncu")),
        ("softmax_do_bench_ms", lambda: _do_bench(softmax / "reference.py", softmax / "initial.py")),
        ("gelu", lambda: _judge("cuda", TASKS["gelu_cuda"][1] / "reference.py", TASKS["gelu_cuda"][1] / "initial.py",
                                profile="ncu")),
        ("gelu_do_bench_ms", lambda: _do_bench(TASKS["gelu_cuda"][1] / "reference.py", TASKS["gelu_cuda"][1] / "initial.py")),
        ("small_softmax", lambda: _judge("triton", _small_softmax(out), softmax / "initial.py", compile_reference=False)),
        ("small_softmax_do_bench_ms", lambda: _do_bench(_small_softmax(out), softmax / "initial.py")),
        ("evaluator_softmax", lambda: _evaluator(softmax)),
    ]
    steps += [(f"softmax_repeat_{i}", lambda: _judge("triton", softmax / "reference.py", softmax / "initial.py",
                                                       compile_reference=False)) for i in range(3)]
    for name in ("side_stream", "no_compute"):
        steps.append((f"hostile_{name}", lambda n=name: _judge("triton", softmax / "reference.py", hostile / f"{n}.py",
                                                               compile_reference=False)))
    if only:
        steps = [(n, f) for n, f in steps if any(n.startswith(o) for o in only)]
    for name, step in steps:
        start = time.perf_counter()
        try:
            value = step()
            report[name] = _brief(value) if isinstance(value, dict) and "stages" in value else value
            if name == "sandboxed_softmax" and isinstance(value, dict) and value.get("result"):
                report[name]["judged"] = _brief(value["result"])
                report[name].pop("result", None)
        except Exception:  # noqa: BLE001 - a self-check reports, never stops
            report[name] = {"exception": traceback.format_exc()[-3000:]}
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
        (out / "selfcheck.json").write_text(json.dumps(report, indent=1, default=str))
    for name, value in report.items():
        if isinstance(value, dict) and "metrics" in value:
            m = value["metrics"]
            print(f"{name:22s} err={value.get('error')} runtime={m.get('runtime_ms')} ref={m.get('reference_ms')} "
                  f"spd={m.get('speedup')} roof={m.get('roofline_fraction')} ncu_dram={m.get('ncu_dram_pct')}")
        else:
            print(f"{name:22s} {str(value)[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "selfcheck-out", sys.argv[2:]))
