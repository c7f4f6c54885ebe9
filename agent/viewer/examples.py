"""A program's per-example results (prompt tasks) set against its parent's, for the viewer.

An example *passes* when its score is at least `PASS_SCORE` (0.5; scores are 0..1, higher
better). Against the parent, on the examples both were scored on:

- *fixed*: the parent failed it (score < 0.5) and the program passes it;
- *broke*: the parent passed it and the program fails it.

A change of score that stays on one side of 0.5 (0.6 -> 0.9) is neither. An example the parent
was not scored on (e.g. the program was scored on a minibatch the parent never saw) has no
parent score and no mark. Rows come broke first, then fixed, then the failing ones, then the
rest, by id within each group.
"""

from __future__ import annotations

import re
from typing import Any

from archives.records import ExampleResult, Program

PASS_SCORE = 0.5
RULE = (
    f"an example passes at score ≥ {PASS_SCORE:g}; fixed: the parent failed it and this program passes it; "
    "broke: the reverse"
)
_ORDER = {"broke": 0, "fixed": 1}


def passes(score: float) -> bool:
    return score >= PASS_SCORE


def change(score: float, parent_score: float | None) -> str | None:
    """"fixed", "broke", or None (no parent score, or both on the same side of PASS_SCORE)."""
    if parent_score is None or passes(score) == passes(parent_score):
        return None
    return "fixed" if passes(score) else "broke"


def _natural(example_id: str) -> list[Any]:
    """Sort key reading digit runs as numbers, so "ex2" comes before "ex10"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", example_id) if part]


def _row(example_id: str, result: ExampleResult, parent: ExampleResult | None) -> dict[str, Any]:
    parent_score = parent.score if parent is not None else None
    return {
        "id": example_id, "split": result.split, "score": result.score, "parent_score": parent_score,
        "passed": passes(result.score), "change": change(result.score, parent_score),
        "input": result.input, "expected": result.expected, "output": result.output, "feedback": result.feedback,
    }  # fmt: skip


def _rank(row: dict[str, Any]) -> tuple[Any, ...]:
    group = _ORDER.get(row["change"] or "", 2 if not row["passed"] else 3)
    return (group, _natural(row["id"]))


def _summary(counts: dict[str, int], has_parent: bool) -> str:
    if not has_parent:
        return f"passes {counts['passed']} of {counts['total']}; the initial program has no parent to compare against"
    if not counts["compared"]:
        return f"none of its {counts['total']} examples was scored for its parent"
    text = f"fixed {counts['fixed']}, broke {counts['broke']} of {counts['compared']} against its parent"
    unscored = counts["total"] - counts["compared"]
    return text + (f" ({unscored} more not scored for the parent)" if unscored else "")


def compare_examples(program: Program, parent: Program | None) -> dict[str, Any] | None:
    """The program's example rows with their parent scores and marks, counts and a summary line;
    None when the program has no per-example results (program and kernel tasks)."""
    if not program.examples:
        return None
    theirs = parent.examples if parent is not None else {}
    rows = sorted((_row(k, r, theirs.get(k)) for k, r in program.examples.items()), key=_rank)
    compared = [r for r in rows if r["parent_score"] is not None]
    counts = {
        "total": len(rows), "passed": sum(r["passed"] for r in rows), "compared": len(compared),
        "parent_passed": sum(passes(r["parent_score"]) for r in compared),
        "fixed": sum(r["change"] == "fixed" for r in rows), "broke": sum(r["change"] == "broke" for r in rows),
    }  # fmt: skip
    return {
        "parent_id": parent.id if parent is not None else None,
        "pass_score": PASS_SCORE,
        "rule": RULE,
        "counts": counts,
        "summary": _summary(counts, parent is not None),
        "rows": rows,
    }
