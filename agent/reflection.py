"""What reflective prompts show about per-example results, as plain values for the templates.

A prompt candidate carries one `ExampleResult` per example (`Program.examples`). The reflect,
merge and compress prompts (agent/prompts.py) show a few examples the parent got wrong (input,
expected answer, the target model's output, the scorer's feedback) and where it does better
or worse than other candidates. Every text is capped here, and every text the target model or
the data wrote is redacted, so a prompt stays within a known size whatever the data holds.
"""

from __future__ import annotations

from typing import Any

from agent.redact import redact
from archives.examples import better_on, example_scores
from archives.records import ExampleResult, Program

__all__ = ["EXAMPLE_CHARS", "MAX_IDS", "example_views", "failed_examples", "merge_view", "standing_view"]

EXAMPLE_CHARS = {"input": 600, "expected": 300, "output": 600, "feedback": 300}
"""Most characters of each field of one example shown in a prompt."""
MAX_IDS = 12  # example ids listed in one "does better on" line
_ID_CHARS = 40
_SOLVED = 1.0 - 1e-9


def failed_examples(parent: Program, rivals: tuple[Program, ...], limit: int) -> list[dict[str, Any]]:
    """Up to `limit` examples the parent scored below full marks on, as template values.

    Those a rival does better on come first (they are known to be solvable), then the lowest
    scores; the validation split is preferred when the parent has one.
    """
    if limit <= 0:
        return []
    scores = example_scores(parent)
    beaten = {key for rival in rivals for key in better_on(example_scores(rival), scores)}
    failed = [key for key, score in scores.items() if score < _SOLVED]
    order = sorted(range(len(failed)), key=lambda i: (failed[i] not in beaten, scores[failed[i]], i))
    return example_views(parent, [failed[i] for i in order[:limit]])


def example_views(program: Program, keys: list[str]) -> list[dict[str, Any]]:
    """Template values of the program's results on `keys`, each field capped."""
    return [_example_view(key, program.examples[key]) for key in keys if key in program.examples]


def standing_view(parent: Program, rivals: tuple[Program, ...]) -> dict[str, Any]:
    """Where the parent does better and worse than each rival, by example ids.

    ``{"alone": ids the parent does better on than every rival, "alone_count": int,
    "rivals": [{"better": ids the rival does better on, "count": int}, ...] (rivals' order)}``.
    """
    mine = example_scores(parent)
    theirs = [example_scores(rival) for rival in rivals]
    alone = [key for key, score in mine.items() if all(key in t and score > t[key] + 1e-9 for t in theirs)]
    rows = []
    for scores in theirs:
        better = better_on(scores, mine)
        rows.append({"better": _ids(better), "count": len(better)})
    return {"alone": _ids(alone) if theirs else [], "alone_count": len(alone) if theirs else 0, "rivals": rows}


def merge_view(a: Program, b: Program, limit: int) -> dict[str, Any]:
    """What each of two parents does better than the other, with up to `limit` examples each.

    ``{"a": side, "b": side}``, each side ``{"better": ids, "count": int, "examples": views
    of that parent's own results on some of them}``.
    """
    scores_a, scores_b = example_scores(a), example_scores(b)
    sides = {}
    for name, program, mine, other in (("a", a, scores_a, scores_b), ("b", b, scores_b, scores_a)):
        better = better_on(mine, other)
        sides[name] = {"better": _ids(better), "count": len(better), "examples": example_views(program, better[:limit])}
    return sides


def _example_view(key: str, result: ExampleResult) -> dict[str, Any]:
    def capped(name: str, text: str) -> str:
        return _cut(redact(text.strip()), EXAMPLE_CHARS[name])

    return {
        "id": _cut(key, _ID_CHARS),
        "score": f"{result.score:.3g}",
        "input": capped("input", result.input),
        "expected": None if result.expected is None else capped("expected", result.expected),
        "output": capped("output", result.output),
        "feedback": capped("feedback", result.feedback),
    }


def _ids(keys: list[str]) -> list[str]:
    return [_cut(key, _ID_CHARS) for key in keys[:MAX_IDS]]


def _cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, its end replaced by a marker when cut."""
    if len(text) <= limit:
        return text
    kept = max(0, limit - 32)  # room for the marker
    return f"{text[:kept]} [... {len(text) - kept} more characters]"
