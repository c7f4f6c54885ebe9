"""`kind: target_sum`: a text file scored by how close the sum of its numbers comes to a target.

The options sit under the task file's `target_sum:` key. Reading numbers runs no candidate
code, so the evaluator works in-process and leaves the sandbox it is given unused.
"""

from __future__ import annotations

import re
import time

from pydantic import BaseModel, ConfigDict

from archives.records import EvalResult, Status


class TargetSumOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: int
    """The sum a perfect file reaches."""


def numbers(text: str) -> list[int]:
    """The integers of the text outside comments (from '#' to the line's end)."""
    return [int(n) for line in text.splitlines() for n in re.findall(r"-?\d+", line.split("#")[0])]


class TargetSumEvaluator:
    def __init__(self, sandbox, target: int) -> None:
        self._sandbox = sandbox
        self._target = target

    @property
    def sandbox(self):
        return self._sandbox

    def warnings(self) -> list[str]:
        return []

    def evaluate(self, source: str, *, label: str = "", parent=None) -> EvalResult:
        start = time.monotonic()
        found = numbers(source)
        if not found:
            return EvalResult(Status.WRONG, error="no numbers in the file", feedback="write some numbers")
        total = sum(found)
        return EvalResult(Status.CORRECT, fitness=-abs(total - self._target), metrics={"sum": float(total)},
                          feedback=f"the numbers sum to {total}; the target is {self._target}",
                          seconds=time.monotonic() - start, backend="in-process")


class TargetSumKind:
    name = "target_sum"
    config_key = "target_sum"
    config_model = TargetSumOptions
    path_keys: tuple[str, ...] = ()

    def check(self, task) -> None:
        if task.evaluator is not None:
            raise ValueError("evaluator: target_sum tasks take no evaluator file")

    def candidate_language(self, task) -> str:
        return "text"

    def description(self, task) -> str:
        return task.description or f"Make the numbers of the file sum to {task.kind_options.target}."

    def build_evaluator(self, task, sandbox, scorer, context):
        return TargetSumEvaluator(sandbox, task.kind_options.target), []
