"""`EvaluationResult`, as OpenEvolve evaluators build it: metrics plus artifacts.

`metrics` are the numbers (a `combined_score` among them is the fitness); `artifacts` are
anything else worth showing the LLM (text, bytes, numbers, nested dicts and lists): evoforge
feeds them back in the next prompt, non-text values as JSON. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvaluationResult:
    """What an `evaluate(program_path)` function may return instead of a plain dict of metrics."""

    metrics: dict[str, Any]
    artifacts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict[str, Any]) -> EvaluationResult:
        """A result with these metrics and no artifacts."""
        return cls(metrics=metrics)

    def to_dict(self) -> dict[str, Any]:
        """The metrics alone (the plain-dict form of the contract)."""
        return self.metrics

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)

    def get_artifact_keys(self) -> list[str]:
        return list(self.artifacts)

    def get_artifact_size(self, key: str) -> int:
        """Bytes of one artifact: UTF-8 length of text, length of bytes, else of its str(); 0 if absent."""
        if key not in self.artifacts:
            return 0
        value = self.artifacts[key]
        if isinstance(value, bytes):
            return len(value)
        return len((value if isinstance(value, str) else str(value)).encode("utf-8"))

    def get_total_artifact_size(self) -> int:
        return sum(self.get_artifact_size(key) for key in self.artifacts)
