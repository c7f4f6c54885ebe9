"""The start of every prompt for a kernel task: what to write, the reference, the judge's rules.

Controller side, text only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config import TaskConfig

_LANGUAGE = {
    "triton": ("Triton", "Write the computation as one or more `@triton.jit` kernels launched from "
                          "`ModelNew.forward`."),
    "cuda": ("CUDA", "Write the computation as `__global__` CUDA kernels built with "
                     "`torch.utils.cpp_extension.load_inline(name=..., cpp_sources=..., cuda_sources=..., "
                     "functions=[...])` at import, and call them from `ModelNew.forward`."),
}

RULES = """How candidates are judged:
- The file must define `class ModelNew(nn.Module)` taking the same constructor arguments as `Model`, with the same
  parameter names and shapes (the judge loads fresh random weights into both).
- Outputs are compared with the reference computed in float64 on several fresh random inputs (other scales,
  offsets and edge values where the task says so) and at other shapes: dtype, shape and device must match exactly;
  NaN/Inf only where the reference has them. Do not modify the inputs; return new tensors.
- Both models run as constructed, in training mode as KernelBench runs them (BatchNorm normalises with the
  batch's statistics), except that dropout layers are switched off (the identity).
- Compute with your own kernels. Calling the torch operators the reference uses (or library matmul, convolution,
  attention) is rejected, as are try/except fallbacks, threads, and touching interpreter or torch internals.
- Speed is the reference's time over yours, timed with the L2 cache flushed and fresh inputs on every call."""


def kernel_description(task: TaskConfig) -> str:
    name, how = _LANGUAGE.get(task.language, (task.language, ""))
    reference = Path(task.reference).read_text(encoding="utf-8") if task.reference else ""
    parts = [task.description.strip() or f"Make this PyTorch operator faster with {name} kernels.",
             f"Target: {name}. {how}",
             f"The reference (PyTorch, KernelBench format):\n```python\n{reference.strip()}\n```",
             RULES]
    return "\n\n".join(p for p in parts if p)
