"""The roofline floor: the least time an op can take on a device, from its bytes and FLOPs.

    floor_ms = max(bytes / copy bandwidth, flops / matmul rate for the inputs' dtype)

Bytes and FLOPs come from the task (`kernel.bytes`, `kernel.flops`) or are estimated from the
reference at the benchmark shape: bytes as every input, parameter and output moved through
device memory once (the fewest any implementation can move); FLOPs from torch's FLOP counter
(matrix products, convolutions, attention; elementwise work counts as 0, so memory bounds
those ops). The rates are the device's measured ceilings (ceilings.py): float32 inputs use
the TF32 rate, the fastest a float32 product can legally go when a task allows TF32.

A measured time under `IMPOSSIBLE_FRACTION` x floor is rejected: nothing runs faster than the
hardware. The slack covers ceilings measured a little under the true peaks. Every timed
candidate reports `roofline_fraction` = floor / time (1.0 = at the speed of light).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IMPOSSIBLE_FRACTION = 0.8


@dataclass(frozen=True)
class Work:
    bytes: float
    flops: float
    dtype: str  # the dtype whose matmul rate bounds the FLOPs
    estimated: bool


def estimate(model: Any, args: list[Any], outputs: list[Any]) -> tuple[float, float]:
    """(bytes, flops) of model(*args) by the rules above; runs the model once under a FLOP counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    moved = sum(a.numel() * a.element_size() for a in args if isinstance(a, torch.Tensor))
    moved += sum(p.numel() * p.element_size() for p in list(model.parameters()) + list(model.buffers()))
    moved += sum(o.numel() * o.element_size() for o in outputs)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*args)
    return float(moved), float(counter.get_total_flops())


def main_dtype(args: list[Any]) -> str:
    import torch

    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            return str(a.dtype).removeprefix("torch.")
    return "float32"


_RATE_KEYS = {"float16": "fp16_tflops", "bfloat16": "bf16_tflops", "float32": "tf32_tflops",
              "float64": "fp32_tflops"}


def floor_ms(work: Work, ceilings: dict[str, Any]) -> float | None:
    """The roofline floor in ms, or None when the ceilings lack what it needs."""
    bandwidth = ceilings.get("copy_gbps")
    if not bandwidth:
        return None
    memory_ms = work.bytes / (float(bandwidth) * 1e9) * 1e3
    rate = ceilings.get(_RATE_KEYS.get(work.dtype, "fp16_tflops")) or ceilings.get("fp16_tflops")
    compute_ms = work.flops / (float(rate) * 1e12) * 1e3 if rate and work.flops else 0.0
    return max(memory_ms, compute_ms)


def bound(work: Work, ceilings: dict[str, Any]) -> str:
    """"memory" or "compute": which term sets the floor."""
    bandwidth = float(ceilings.get("copy_gbps") or 1.0)
    rate = float(ceilings.get(_RATE_KEYS.get(work.dtype, "fp16_tflops")) or ceilings.get("fp16_tflops") or 1.0)
    return "compute" if work.flops / (rate * 1e12) > work.bytes / (bandwidth * 1e9) else "memory"
