"""An EvaluationResult with artifacts: text, bytes, a number and nested dicts and lists."""

import openevolve
from openevolve.evaluation_result import EvaluationResult

from read_value import value_of


def evaluate(program_path):
    value = value_of(program_path)
    cases = [{"case": i, "ok": value > i} for i in range(3)]
    return EvaluationResult(
        metrics={"combined_score": value / 10, "accuracy": sum(c["ok"] for c in cases) / 3},
        artifacts={
            "stdout": f"ran 3 cases with VALUE {value:g}",
            "raw": b"raw bytes",
            "cases": cases,
            "module_feedback": {"parser": {"ok": True, "hints": ["fine"]}},
            "elapsed_ms": 12,
            "shim": str(getattr(openevolve, "EVOFORGE_SHIM", False)),
        },
    )
