"""What a naive harness would report for a candidate: the contrast for bench/exploits.py.

Two common ways of judging a kernel, both fooled by the exploits in bench/ops/exploits:

- "kernelbench": both modules imported first, each model built after `torch.manual_seed(42)`;
  the reference's output copied to the host and freed, then the candidate run on the same
  inputs and compared with `torch.allclose(atol=1e-2, rtol=1e-2)`; timing with CUDA events on
  the current stream around each call, the same inputs every call, no L2 flush, mean of 100
  calls after 10 warm-up calls, reference first, then candidate.
- "do_bench": `triton.testing.do_bench` medians (events, L2 cleared by zeroing a buffer, the
  same inputs every call).

Runs candidate code in this process: start it as its own process, one per candidate.

    python -m bench.naive_timer REFERENCE.py CANDIDATE.py [--build-only]   # prints one JSON object

`--build-only` imports the candidate and stops (a CUDA candidate builds into
TORCH_EXTENSIONS_DIR without touching the GPU), so a later run finds it built.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.ops.pairs import load_module


def _events_mean_ms(fn: Any, inputs: list[Any], calls: int = 100, warmup: int = 10) -> float:
    import torch

    for _ in range(warmup):
        fn(*inputs)
    torch.cuda.synchronize()
    total = 0.0
    for _ in range(calls):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(*inputs)
        end.record()
        end.synchronize()
        total += start.elapsed_time(end)
    return total / calls


def naive_report(reference: Path, candidate: Path) -> dict[str, Any]:
    import torch
    from triton.testing import do_bench

    ref = load_module(reference, "naive_reference")
    new = load_module(candidate, "naive_candidate")  # imported before anything runs, as KernelBench does
    init = ref.get_init_inputs()
    torch.manual_seed(42)
    model = ref.Model(*init).cuda()
    torch.manual_seed(42)
    model_new = new.ModelNew(*init).cuda()
    torch.manual_seed(1)
    inputs = [x.cuda() if isinstance(x, torch.Tensor) else x for x in ref.get_inputs()]
    with torch.no_grad():
        expected = model(*inputs)
        expected_host = expected.cpu()
        del expected  # freed: its block goes back to the caching allocator
        out = model_new(*inputs)
        torch.cuda.synchronize()
        got = out.cpu()
        del out
        close = got.shape == expected_host.shape and bool(torch.allclose(got, expected_host, atol=1e-2, rtol=1e-2))
        diff = float((got.double() - expected_host.double()).abs().max()) if got.shape == expected_host.shape else None
        ref_ms = _events_mean_ms(model, inputs)
        new_ms = _events_mean_ms(model_new, inputs)
        ref_db = float(do_bench(lambda: model(*inputs), return_mode="median"))
        new_db = float(do_bench(lambda: model_new(*inputs), return_mode="median"))
    return {
        "kernelbench_correct": close,
        "kernelbench_max_abs_diff": diff,
        "kernelbench_reference_ms": ref_ms,
        "kernelbench_candidate_ms": new_ms,
        "kernelbench_speedup": ref_ms / new_ms if new_ms > 0 else None,
        "do_bench_reference_ms": ref_db,
        "do_bench_candidate_ms": new_db,
        "do_bench_speedup": ref_db / new_db if new_db > 0 else None,
    }


if __name__ == "__main__":
    try:
        if "--build-only" in sys.argv:
            load_module(Path(sys.argv[2]), "naive_candidate")
            report = {"built": sys.argv[2]}
        else:
            report = naive_report(Path(sys.argv[1]), Path(sys.argv[2]))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the caller reads JSON
        report = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    print(json.dumps(report))
