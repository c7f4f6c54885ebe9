"""Program tasks: the user's OpenEvolve-style evaluator, run through the sandbox harness.

Re-exports are lazy: the harness (`python -m evaluators.program.harness`) runs inside the
sandbox and must not import the controller-side modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ProgramEvaluator", "program_file_name", "syntax_error"]

if TYPE_CHECKING:
    from evaluators.program.evaluator import ProgramEvaluator, program_file_name, syntax_error


def __getattr__(name: str) -> Any:
    if name in __all__:
        from evaluators.program import evaluator

        return getattr(evaluator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
