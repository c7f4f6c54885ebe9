"""`agent evolve` on a kernel task with scripted LLM answers: the whole loop on a GPU, offline.

    python bench/evolve_scripted.py [--task tasks/softmax_triton/task.yaml] [--evaluations 10] [--workers 4] [--out DIR]

No LLM can be reached from a GPU machine here, so the fake OpenAI-compatible server of the
tests (tests/fakes/openai_server.py, real HTTP on 127.0.0.1) answers each request with the
next of a fixed list of whole programs: honest variants of the task's initial kernel (other
num_warps) and hostile kernels from the exploit suite. `agent evolve` runs as a user runs it
(its own process, the default sandbox, the task's evaluator, a SQLite store), with the greedy
strategy; repeated answers are stored as duplicates and not judged again. This script then
reads the store and writes <gpu>-evolve.md and <gpu>-evolve.json under --out: every program
with its status, runtime, speedups, seconds from proposal to verdict and one-line reason, and
the run's wall time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.kernels import gpu_slug  # noqa: E402

HOSTILE = REPO / "tests" / "evaluators" / "kernel" / "hostile"
SCRIPT = ["warps:4", "hostile:no_compute", "warps:16", "hostile:calls_reference_op", "warps:2",
          "hostile:forges_result", "warps:1", "warps:32"]


def answer(item: str, initial: str) -> str:
    kind, value = item.split(":")
    source = (HOSTILE / f"{value}.py").read_text() if kind == "hostile" else \
        initial.replace("NUM_WARPS = 8", f"NUM_WARPS = {value}")
    return f"```python\n{source}```"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/evolve_scripted.py")
    parser.add_argument("--task", default=str(REPO / "tasks" / "softmax_triton" / "task.yaml"))
    parser.add_argument("--evaluations", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)

    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    initial = (Path(args.task).parent / "initial.py").read_text()
    store = out / "evolve.db"
    store.unlink(missing_ok=True)
    counter = itertools.count()
    with FakeOpenAIServer() as server:
        server.set_responder(lambda request: Reply(answer(SCRIPT[next(counter) % len(SCRIPT)], initial)))
        start = time.perf_counter()
        command = [sys.executable, "-m", "agent.cli", "evolve", args.task, "--model", "openai/scripted",
                   "--api-base", server.url, "--store", f"sqlite:///{store}", "--evaluations", str(args.evaluations),
                   "--workers", str(args.workers), "--strategy", "greedy"]
        path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
        done = subprocess.run(command, cwd=REPO, text=True, capture_output=True, env={**os.environ, "PYTHONPATH": path})
        wall = time.perf_counter() - start
    print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", flush=True)
    rows = programs(store) if store.is_file() else []
    gpu = gpu_name()
    shown = " ".join(["agent", *command[3:]]).replace(f"{REPO}{os.sep}", "")
    result = {"device": gpu, "command": shown, "exit_code": done.returncode, "wall_s": round(wall, 1), "programs": rows}
    slug = gpu_slug(gpu) if gpu else "cpu"
    (out / f"{slug}-evolve.json").write_text(json.dumps(result, indent=2))
    (out / f"{slug}-evolve.md").write_text(render(result))
    print(render(result))
    return done.returncode


def programs(store: Path) -> list[dict]:
    from archives.store import Store

    with Store(f"sqlite:///{store}", read_only=True) as db:
        run = db.list_runs()[0].run
        found = []
        for p in db.programs(run.id):
            m = p.metrics or {}
            found.append({"seq": p.seq, "status": p.status, "runtime_ms": m.get("runtime_ms"),
                          "speedup": m.get("speedup"), "speedup_vs_compile": m.get("speedup_vs_compile"),
                          "num_warps": (p.descriptors or {}).get("num_warps"), "error": (p.error or "")[:160],
                          "seconds": (p.evaluated_at - p.created_at) if p.evaluated_at else None})
        return found


def gpu_name() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    except Exception:  # noqa: BLE001 - the report says "cpu"
        return ""


def render(result: dict) -> str:
    lines = [f"# agent evolve with scripted LLM answers on {result['device'] or 'the CPU'}", "",
             f"`{result['command']}` (exit code {result['exit_code']}, {result['wall_s']} s wall); "
             "written by `python bench/evolve_scripted.py`.", "",
             "| seq | status | num_warps | runtime ms | speedup eager | speedup compile | s to verdict | reason |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    def cell(v, f="{:.4g}"):
        return "-" if v is None else f.format(v)
    duplicates = [r for r in result["programs"] if r["status"] == "duplicate"]
    for r in result["programs"]:
        if r["status"] == "duplicate":
            continue
        lines.append(f"| {r['seq']} | {r['status']} | {cell(r['num_warps'], '{:g}')} | {cell(r['runtime_ms'])} | "
                     f"{cell(r['speedup'])} | {cell(r['speedup_vs_compile'])} | {cell(r['seconds'], '{:.1f}')} | "
                     f"{r['error'].replace('|', '/')} |")
    if duplicates:
        lines += ["", f"{len(duplicates)} more proposals repeated a program already judged (the script has "
                  f"{len(SCRIPT)} answers): stored as duplicates, not evaluated again."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
