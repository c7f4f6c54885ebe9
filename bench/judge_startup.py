"""Where a kernel candidate's fixed costs go on this machine: process start, imports, CUDA's
start, Triton's compile, the profiler's start, and what a fork of a warm process saves.

    python -m bench.judge_startup [--repeats 3] [--out bench/results]

Each row is measured in fresh processes (median of --repeats), the way the judge starts a
candidate's process (runner.py), so the throughput benchmark's per-stage seconds can be split
into parts:

- `python -c pass`, `import torch`, `import torch, triton`;
- CUDA's start in a process that imported torch (`torch.cuda.init()` and a first tensor);
- a fresh Triton softmax compiled and run once (an empty cache);
- the profiler (torch.profiler with CPU and CUDA activities, and CUDA alone): the first and the
  second profiled forward of a tiny op, and the time to read its events;
- a fork of a process that imported torch and triton (no CUDA yet): fork to CUDA ready.

Writes <gpu>-judge-startup.json and .md. Measures only; changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_PROFILE = r"""
import json, sys, time
import torch
from torch.profiler import ProfilerActivity, profile
acts = [ProfilerActivity.CUDA] if sys.argv[1] == "cuda" else [ProfilerActivity.CPU, ProfilerActivity.CUDA]
x = torch.ones(1 << 20, device="cuda"); torch.cuda.synchronize()
out = {}
for n in ("first", "second"):
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        (x * 2).sum(); torch.cuda.synchronize()
    t1 = time.perf_counter()
    events = [e for e in prof.events()]
    t2 = time.perf_counter()
    out[n] = {"profile_s": t1 - t0, "events_s": t2 - t1, "events": len(events)}
print(json.dumps(out))
"""

_TRITON = r"""
import time, torch, triton, triton.language as tl
@triton.jit
def softmax(x_ptr, y_ptr, cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * cols + offs, mask=offs < cols, other=-float("inf"))
    e = tl.exp(x - tl.max(x, 0))
    tl.store(y_ptr + row * cols + offs, e / tl.sum(e, 0), mask=offs < cols)
x = torch.randn(8192, 4096, device="cuda"); y = torch.empty_like(x); torch.cuda.synchronize()
t0 = time.perf_counter()
softmax[(8192,)](x, y, 4096, BLOCK=4096); torch.cuda.synchronize()
print(time.perf_counter() - t0)
"""

_FORK = r"""
import os, sys, time
import torch, triton, triton.language
r, w = os.pipe()
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    torch.ones(1, device="cuda"); torch.cuda.synchronize()
    os.write(w, str(time.perf_counter() - t0).encode()); os._exit(0)
os.waitpid(pid, 0)
print(os.read(r, 64).decode())
"""


def _wall(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def _printed(code: str, env: dict[str, str], *args: str) -> str:
    """The last line `code` prints, run from a file (Triton's JIT reads its kernels' source)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(code)
    try:
        done = subprocess.run([sys.executable, script.name, *args], env=env, capture_output=True, text=True)
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"a measurement failed (exit {done.returncode}): {tail}")
    return done.stdout.strip().splitlines()[-1]


def measure(repeats: int) -> dict[str, float]:
    env = dict(os.environ)
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for _ in range(repeats):
        add("python -c pass", _wall("pass", env))
        add("import torch", _wall("import torch", env))
        add("import torch, triton", _wall("import torch, triton, triton.language", env))
        add("import torch + CUDA start + first tensor", _wall(
            "import torch; torch.ones(1, device='cuda'); torch.cuda.synchronize()", env))
        with tempfile.TemporaryDirectory() as cache:
            add("Triton softmax: compile and first run (empty cache)",
                float(_printed(_TRITON, {**env, "TRITON_CACHE_DIR": cache})))
        for kind in ("cpu+cuda", "cuda"):
            got = json.loads(_printed(_PROFILE, env, kind))
            add(f"profiler ({kind}): first profiled op", got["first"]["profile_s"])
            add(f"profiler ({kind}): reading the first one's events", got["first"]["events_s"])
            add(f"profiler ({kind}): second profiled op", got["second"]["profile_s"])
        add("fork of a warm process (torch, triton imported): to CUDA ready", float(_printed(_FORK, env)))
    return {name: statistics.median(values) for name, values in rows.items()}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge_startup")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("bench.judge_startup: no CUDA device here; it measures GPU start-up costs", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name(0)
    medians = measure(args.repeats)
    slug = gpu.lower().replace("nvidia ", "").split()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"gpu": gpu, "torch": torch.__version__, "cpus": os.cpu_count(), "repeats": args.repeats,
              "medians_s": medians}
    (out / f"{slug}-judge-startup.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Fixed costs of a candidate's process on {gpu}", "",
             f"`python -m bench.judge_startup --repeats {args.repeats}`; torch {torch.__version__}, "
             f"{os.cpu_count()} CPUs; medians over fresh processes.", "", "| what | seconds |", "| --- | --- |"]
    lines += [f"| {name} | {value:.3f} |" for name, value in medians.items()]
    (out / f"{slug}-judge-startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
