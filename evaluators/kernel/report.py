"""What the judge hands back: stages, metrics and text, in the program harness's payload shape."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Any, Iterator

MAX_LOG = 4_000


class Rejected(Exception):
    """The judgement ended: a stage failed (the report says which and why)."""


class Report:
    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []
        self.metrics: dict[str, float] = {}
        self.text: dict[str, str] = {}
        self.notes: list[str] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage; it is recorded ok unless `fail` is called inside it."""
        entry = {"name": name, "ok": True, "seconds": 0.0, "message": "", "log": ""}
        self.stages.append(entry)
        start = time.perf_counter()
        try:
            yield entry
        finally:
            entry["seconds"] = time.perf_counter() - start

    def fail(self, message: str, log: str = "") -> None:
        """Fail the current stage with a one-line reason and end the judgement."""
        entry = self.stages[-1]
        entry.update(ok=False, message=_one_line(message), log=log[-MAX_LOG:])
        self.text["error"] = f"{entry['name']}: {entry['message']}"
        raise Rejected(message)

    def metric(self, name: str, value: float | None) -> None:
        if value is not None and math.isfinite(float(value)):
            self.metrics[name] = float(value)

    def note(self, line: str) -> None:
        self.notes.append(line)

    def payload(self) -> dict[str, Any]:
        text = dict(self.text)
        if self.notes:
            text["notes"] = "\n".join(self.notes)
        return {"stages": self.stages, "metrics": self.metrics, "text": text}


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else "")[:500]
