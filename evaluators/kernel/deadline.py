"""How long the timing stage may take, from what the correctness stage already measured.

A candidate can be correct while it is checked and never return once timing starts (a kernel
that spins after its first calls). Timing holds the GPU alone, so every other judge waits
behind it: its limit must be seconds, not the job's. The timing loop (timing.measure) makes a
fixed number of calls whatever its budget (warm-up and `min_reps` for each callable, and the
spin kernels that measure the honest sync gap), and stops at `max_seconds` after that; so it
can take at most about `max_seconds` plus those calls, each no slower than the slowest call
seen while checking correctness. The deadline is that, times a safety factor, with a floor for
the setup (L2 flush buffer, events, the spin's calibration), and never more than every
planned call could take. The judge's process enforces it: past it, the candidate's process
group is killed, and the GPU lock the judge holds is released as the stage unwinds.
"""

from __future__ import annotations

from typing import Any

FLOOR_S = 5.0  # never less: setup of the timing loop on a busy machine
SLACK_S = 5.0  # beyond the loop's own time budget
SAFETY = 3.0  # how much slower than the slowest checked call a timed call may be
HONEST_GAP_REPS = 30  # timing.CudaTimer.honest_gap's spins of one call's length, per callable
CALLABLES = 2  # the reference and the candidate, interleaved
GRAPH_CALLS = 110  # timing.graph_time: two calls (one captured) and 5 x 20 replays, with margin


def timing_deadline(call_s: float, options: Any, cap_s: float) -> float:
    """Seconds the "time" request may take; `call_s` is the slowest call seen in the checks.

    `options` is a timing.TimingOptions (max_seconds, min_reps, max_reps, warmup_reps); `cap_s`
    bounds it whatever the calls took (a candidate slow on purpose while checked gains nothing).
    """
    call_s = max(0.0, call_s)
    fixed_calls = CALLABLES * (options.warmup_reps + options.min_reps + HONEST_GAP_REPS)
    every_call = CALLABLES * (options.warmup_reps + options.max_reps + HONEST_GAP_REPS)
    budgeted = options.max_seconds + SLACK_S + SAFETY * call_s * fixed_calls
    return min(cap_s, max(FLOOR_S, min(budgeted, SAFETY * call_s * every_call + SLACK_S)))


def calls_deadline(call_s: float, calls: int, cap_s: float) -> float:
    """Seconds a request that makes `calls` calls may take (e.g. the CUDA-graph time, GRAPH_CALLS)."""
    return min(cap_s, max(FLOOR_S, SLACK_S + SAFETY * max(0.0, call_s) * calls))


def timing_timeout_message(deadline_s: float, call_times: list[float]) -> str:
    """The one line a candidate that hangs in timing is stored with (status timeout)."""
    slowest = max(call_times, default=0.0)
    return (f"timing did not finish within {deadline_s:.3g} s; the correctness calls took {sum(call_times):.3g} s "
            f"({len(call_times)} calls, the slowest {slowest * 1e3:.3g} ms)")
