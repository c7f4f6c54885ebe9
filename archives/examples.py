"""Per-example scores of a program, and who does better where.

Prompt candidates carry one result per example (`Program.examples`: id -> `ExampleResult`,
each with a `split`, "minibatch" or "validation"). Programs are compared on the validation
split when they have it (every fully evaluated candidate is scored on the same validation
set); a candidate stopped at the minibatch has only minibatch scores. The Pareto strategy
(archives/pareto.py) and the reflective prompts (agent/reflection.py) both read scores here.
"""

from __future__ import annotations

from archives.records import Program

__all__ = ["VALIDATION", "better_on", "example_scores", "validation_scores"]

VALIDATION = "validation"
_TIE = 1e-9  # scores closer than this are equal


def example_scores(program: Program) -> dict[str, float]:
    """Example id -> score: the validation split's when the program has one, else every example's."""
    return validation_scores(program) or {key: float(r.score) for key, r in program.examples.items()}


def validation_scores(program: Program) -> dict[str, float]:
    """Example id -> score over the validation split only (empty when it was not scored on it)."""
    return {key: float(r.score) for key, r in program.examples.items() if r.split == VALIDATION}


def better_on(a: dict[str, float], b: dict[str, float]) -> list[str]:
    """The examples scored for both on which `a` scores higher than `b`, in `a`'s order."""
    return [key for key, score in a.items() if key in b and score > b[key] + _TIE]
