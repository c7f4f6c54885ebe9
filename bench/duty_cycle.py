"""Does the judge's loop time a kernel faster than do_bench because the GPU idles between calls?

    python bench/duty_cycle.py [OP ...] [--out bench/results]      # on a GPU; default: matmul_bias_relu softmax

For each op of bench/ops (our own candidates), in one process: `triton.testing.do_bench`
(back-to-back calls), then the judge's timing loop (evaluators/kernel/timing.measure: L2 flush,
a spin over the launch, one call, a whole-device sync, per call), then do_bench again, while
`nvidia-smi` samples the SM clock and the power draw every 50 ms. The medians and the clocks
under each say whether a gap between the two timers follows the clock. Writes
<gpu>-duty-cycle.json under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.kernels import gpu_slug  # noqa: E402
from bench.ops import pairs  # noqa: E402
from bench.ops.catalog import by_name  # noqa: E402


def sampled(what: Callable[[], float]) -> dict[str, Any]:
    """Run `what` (returns ms) while nvidia-smi samples clocks; the ms and the median clock and power."""
    probe = subprocess.Popen(["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits",
                              "-lms", "50"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    try:
        ms = what()
    finally:
        probe.terminate()
        lines = probe.communicate(timeout=10)[0].splitlines()
    samples = [[float(v) for v in line.split(",")] for line in lines if line.count(",") == 1]
    samples = samples[6:] or samples  # the 0.3 s before the measurement
    return {"ms": ms, "sm_mhz": statistics.median(s[0] for s in samples) if samples else None,
            "watts": statistics.median(s[1] for s in samples) if samples else None}


def measure(name: str) -> dict[str, Any]:
    import torch
    from triton.testing import do_bench

    from evaluators.kernel.timing import TimingOptions
    from evaluators.kernel.timing import measure as judge_loop

    op = by_name(name)
    _, candidate, reference = pairs.build_pair(op, device="cuda", seed=0)
    inputs = pairs.make_inputs(reference, device="cuda", seed=1)

    def bench() -> float:
        return float(do_bench(lambda: candidate(*inputs), warmup=50, rep=300, return_mode="median"))

    def loop() -> float:
        options = TimingOptions(min_reps=200, max_reps=2000, target_rel_se=0.0, max_seconds=3.0)
        result = judge_loop({"candidate": candidate}, lambda i: list(inputs), None, options, "cuda")
        return statistics.median(result["samples"]["candidate"]["event_ms"])

    with torch.no_grad():
        candidate(*inputs)
        torch.cuda.synchronize()
        return {"op": name, "do_bench": sampled(bench), "judge_loop": sampled(loop), "do_bench_again": sampled(bench)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/duty_cycle.py")
    parser.add_argument("ops", nargs="*", default=["matmul_bias_relu", "softmax"])
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)
    import torch

    rows = []
    for name in args.ops:
        rows.append(measure(name))
        print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{gpu_slug(torch.cuda.get_device_name(0))}-duty-cycle.json"
    target.write_text(json.dumps({"device": torch.cuda.get_device_name(0), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
