"""A candidate's share of GPU memory, and whose fault an out-of-memory error is.

Several judges check candidates on one GPU at the same time; one candidate that takes almost
all of its memory would make the others (or their references) fail. So the candidate's process
(runner.py) caps torch's allocator at a share of the device (`apply`, before the candidate is
imported: 1 / the jobs that may share the GPU, at least `MIN_SHARE`), and an out-of-memory
error in it is explained (`explain`): past its share it is the candidate's ("used more than its
share"), within its share the device itself ran out because of other processes: a fault on the
judge's side (`JUDGE_SIDE_OOM` in the message), retried by the evaluator and never charged to
the candidate. Only torch's allocator is capped: memory a CUDA extension takes with cudaMalloc
directly is not. CUDA only; on a CPU nothing here runs.
"""

from __future__ import annotations

import re
from typing import Any

MIN_SHARE = 0.125  # never less than an eighth of the GPU, however many jobs share it
JUDGE_SIDE_OOM = "the GPU ran out of memory while the candidate held"  # evaluators/kernel/faults.py
OVER_SHARE = "the candidate used more than its share of GPU memory"  # the candidate's: wrong, even at import
_TRIED = re.compile(r"Tried to allocate ([\d.]+) (GiB|MiB|KiB|B|bytes)")
_UNITS = {"GiB": 2**30, "MiB": 2**20, "KiB": 2**10, "B": 1, "bytes": 1}


def share_for(jobs_per_gpu: int) -> float | None:
    """The share of a GPU one candidate gets; None when it has the GPU to itself."""
    if jobs_per_gpu <= 1:
        return None
    return max(MIN_SHARE, 1.0 / jobs_per_gpu)


def apply(torch: Any, share: float | None) -> None:
    if share is not None and 0.0 < share < 1.0:
        torch.cuda.set_per_process_memory_fraction(share)


def explain(torch: Any, exc: BaseException, share: float | None) -> str | None:
    """One line for an out-of-memory error under a share; None for anything else.

    Two kinds: torch's allocator refusing a tensor (`torch.cuda.OutOfMemoryError`), and the CUDA
    runtime itself failing with cudaErrorMemoryAllocation ("CUDA error: out of memory", raised
    as `torch.AcceleratorError`) when a kernel's module is loaded or a library takes its
    workspace: on an H100 with 16 judges at once the second failed honest candidates as wrong."""
    if share is None or not _is_out_of_memory(torch, exc):
        return None
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    match = _TRIED.search(str(exc))
    tried = float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0
    held = torch.cuda.memory_reserved()
    return blame(held, tried, share * total)


def _is_out_of_memory(torch: Any, exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    runtime_error = getattr(torch, "AcceleratorError", RuntimeError)  # torch < 2.8: a RuntimeError
    return isinstance(exc, runtime_error) and "CUDA error: out of memory" in str(exc)


def blame(held: float, tried: float, limit: float) -> str:
    """Whose out-of-memory error it is, from what the process held, asked for and may hold (bytes)."""
    gib = 2**30
    if held + tried > limit:
        used = (held + tried) / gib
        return f"{OVER_SHARE} ({used:.3g} GiB of {limit / gib:.3g} GiB)"
    return (f"{JUDGE_SIDE_OOM} {held / gib:.3g} GiB, within its share of {limit / gib:.3g} GiB "
            "(other processes used the rest)")
