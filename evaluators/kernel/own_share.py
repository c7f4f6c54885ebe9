"""Which share of one forward's GPU time ran in the candidate's own kernels (issue 12, item 4).

A candidate that does its work with torch operators and launches a token kernel of its own
passes every check of the output; the kernels stage profiles one forward and rejects it when
the candidate's kernels (its @triton.jit functions, its CUDA __global__ functions) account for
less than `min_own_share` of the device time. Copies, casts and fills (memcpy, memset, torch's
copy and fill kernels: `.contiguous()`, `.to(dtype)`, `torch.zeros`) count for neither side:
they move or set data and do none of an operator's work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MIN_OWN_SHARE = 0.5  # most of the forward's GPU time must run in the candidate's own kernels


@dataclass(frozen=True)
class OwnShare:
    share: float  # own kernels' device time over all kernels' device time, 0..1
    own_us: float
    total_us: float
    library: tuple[tuple[str, float], ...]  # the other kernels by device time (us), largest first


def own_share_for(configured: float | None, allow_ops: tuple[str, ...] | list[str]) -> float:
    """The task's `kernel.min_own_share`; unset, the default, or 0 when the task lets candidates
    call library operators (`allow_ops`), whose kernels then do part of the work by design."""
    if configured is not None:
        return configured
    return 0.0 if allow_ops else DEFAULT_MIN_OWN_SHARE


# torch's copy (contiguous, casts, permutes) and fill (zeros, full) kernels: they move or set data
_DATA_MOVEMENT = ("direct_copy_kernel", "FillFunctor")


def is_data_movement(name: str) -> bool:
    if name.lower().startswith(("memcpy", "memset")):
        return True
    return "at::native::" in name and any(k in name for k in _DATA_MOVEMENT)


# Kernels of torch, its compiler and vendor libraries: never the candidate's, whatever it names its own.
_LIBRARY = re.compile(r"at::native::|at::cuda::|\bcub::|cutlass|cublas|cudnn|nvjet|xmma|gemm|"
                      r"\btriton_(poi|red|per|tem)_", re.IGNORECASE)


def is_own(name: str, own: list[str]) -> bool:
    """Whether a profiler kernel name is one of the candidate's kernels: the name as a whole word
    (Triton's name, perhaps with a specialisation suffix `_0d1d`; a demangled CUDA signature) or C++-mangled (`_Z14rmsnorm_kernelPKf...`), and
    not in a library's namespace (a candidate naming its kernel `reduce_kernel` does not make
    torch's reductions its own)."""
    if _LIBRARY.search(name):
        return False
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(k)}(_[0-9][A-Za-z0-9]*)?(?![A-Za-z0-9_])", name)
               or f"_Z{len(k)}{k}" in name for k in own)


def own_share(kernel_times: list[tuple[str, float]], own: list[str]) -> OwnShare | None:
    """`kernel_times`: (kernel name, device microseconds) of one forward, as the profiler names
    them; `own`: the candidate's kernel names (a profiler name contains its own kernel's name:
    Triton uses the function's name, CUDA a mangled or demangled signature). None when no
    kernel time was recorded."""
    own_us, library = 0.0, {}
    for name, us in kernel_times:
        if us <= 0:
            continue
        if is_own(name, own):
            own_us += us
        elif not is_data_movement(name):
            library[name] = library.get(name, 0.0) + us
    total = own_us + sum(library.values())
    if total <= 0:
        return None
    ranked = tuple(sorted(library.items(), key=lambda item: -item[1]))
    return OwnShare(own_us / total, own_us, total, ranked)


def shortfall_message(found: OwnShare, minimum: float) -> str:
    """The one-line reason a candidate is rejected for doing too little of the work itself."""
    shown = ", ".join(f"{_short(name)} ({us / 1000:.3f} ms)" for name, us in found.library[:3])
    return (f"only {found.share:.0%} of one forward's GPU time ran in the candidate's own kernels "
            f"(at least {minimum:.0%} required); library kernels did the rest: {shown}. Do the work in "
            f"your own kernels")


def _short(name: str, keep: int = 72) -> str:
    """A long templated kernel name, its head and its tail (where the functor is named)."""
    return name if len(name) <= keep else f"{name[:28]}...{name[-(keep - 31):]}"
