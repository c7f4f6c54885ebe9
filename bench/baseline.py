"""Trusted, in-process measurements beside the judge's: triton.testing.do_bench.

For one op of bench/ops: check our own candidate against the fp64 reference on the GPU, then
time the candidate and the eager reference with `triton.testing.do_bench` (CUDA events per
call, L2 cleared by zeroing a 256 MB buffer before each call, median over the repetitions, the
same inputs every call). This imports candidate code, so it is only for the candidates we
wrote (bench/ops), never for hostile ones.

    python -m bench.baseline [OP ...]      # prints one JSON object per op
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bench.ops import pairs
from bench.ops.catalog import OPS, Op, by_name


def _median_ms(fn: Any) -> float:
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=50, rep=300, return_mode="median"))


def measure(op: Op, *, seed: int = 0) -> dict[str, Any]:
    """{"op", "candidate_load_s", "correct", "mismatch", "do_bench_ms", "eager_ms"}."""
    import torch

    row: dict[str, Any] = {"op": op.name}
    start = time.perf_counter()
    model, model_new, ref = pairs.build_pair(op, device="cuda", seed=seed)
    row["candidate_load_s"] = time.perf_counter() - start
    inputs = pairs.make_inputs(ref, device="cuda", seed=seed + 1)
    with torch.no_grad():
        out = model_new(*inputs)
        torch.cuda.synchronize()
        row["mismatch"] = pairs.mismatch(out, pairs.fp64_reference(model, inputs))
        row["correct"] = row["mismatch"] is None
        del out
        row["do_bench_ms"] = _median_ms(lambda: model_new(*inputs))
        row["eager_ms"] = _median_ms(lambda: model(*inputs))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("ops", nargs="*", help="op names (default: all)")
    args = parser.parse_args(argv)
    for op in [by_name(n) for n in args.ops] or list(OPS):
        try:
            row = measure(op)
        except Exception as exc:  # noqa: BLE001 - one op failing must not hide the others
            row = {"op": op.name, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
