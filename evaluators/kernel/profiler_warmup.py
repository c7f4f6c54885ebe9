"""Start torch's profiler once before the candidate is imported.

The kernels stage profiles one forward of the candidate (runner.py `launches`). The first
profiled region of a process pays the profiler's start-up (loading CUPTI and attaching it to the
CUDA context): 4-6 s per candidate on an H200 host, against well under a second for the forward
itself. The candidate's process does it at its start, right after CUDA's, so the kernels stage
does not pay it; in a primed job (priming.py) that start runs before the candidate exists, and
the start-up costs the candidate nothing.

Measured on an H200 host (bench/results/throughput-notes.md): run in a background thread
beside the candidate's import and checks instead, it slowed both (the candidate's import and
first call 1.5 s -> 3.6 s, the checks 5.0 s -> 11.1 s), so it runs in the foreground.

A warm-up that fails changes nothing but the speed: the profiled forward then starts the
profiler itself. torch and the standard library only.
"""

from __future__ import annotations

import time
from typing import Any


def warm_up_profiler(torch: Any) -> tuple[float | None, str | None]:
    """Profile a one-element fill; (seconds it took, None) or (None, why it failed)."""
    start = time.perf_counter()
    try:
        from torch.profiler import ProfilerActivity, profile

        marker = torch.empty(1, device="cuda")
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]):
            marker.fill_(0.0)
            torch.cuda.synchronize()
        return time.perf_counter() - start, None
    except Exception as exc:  # noqa: BLE001 - a failed warm-up only costs the saving
        return None, f"{type(exc).__name__}: {exc}"[:300]
