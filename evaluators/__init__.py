"""Evaluation pipelines by task kind, the results they produce, and scorer plugins.

Re-exports are lazy, so the harness that runs inside the sandbox (standard library only)
can import `evaluators.program.harness` without pulling in the controller-side modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Evaluator": "evaluators.base",
    "RunContext": "evaluators.base",
    "TaskKind": "evaluators.base",
    "EvalResult": "archives.records",
    "StageResult": "archives.records",
    "ProgramEvaluator": "evaluators.program.evaluator",
    "KernelEvaluator": "evaluators.kernel.evaluator",
    "Score": "evaluators.scorers",
    "Scorer": "evaluators.scorers",
    "ScorerError": "evaluators.scorers",
    "load_scorer": "evaluators.scorers",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from evaluators.base import Evaluator, RunContext, TaskKind
    from evaluators.kernel.evaluator import KernelEvaluator
    from evaluators.program.evaluator import ProgramEvaluator
    from archives.records import EvalResult, StageResult
    from evaluators.scorers import Score, Scorer, ScorerError, load_scorer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
