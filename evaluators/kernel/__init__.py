"""Kernel tasks: Triton and CUDA candidates in KernelBench format, judged so no kernel can cheat.

See README.md beside this file. Re-exports are lazy: the harness and the candidate's process
import only what they need (torch, triton, the standard library), the controller no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "JudgeOptions": "evaluators.kernel.judge",
    "judge": "evaluators.kernel.judge",
    "KernelEvaluator": "evaluators.kernel.evaluator",
    "measure_ceilings": "evaluators.kernel.ceilings",
    "load_or_measure": "evaluators.kernel.ceilings",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from evaluators.kernel.ceilings import load_or_measure, measure_ceilings
    from evaluators.kernel.evaluator import KernelEvaluator
    from evaluators.kernel.judge import JudgeOptions, judge


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
