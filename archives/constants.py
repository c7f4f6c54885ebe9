"""A program's constants as a behaviour proxy when the evaluator reports nothing but a score.

LLM edits most often change the numbers a program sets (a step size, a threshold, a weight), and
text distance barely tells a small change of a constant from a large one. `constants` reads every
numeric literal and keys it by what precedes it on its line (whitespace dropped), summing the
literals that share a key, so ``lr = 0.01`` gives ``{"lr=": 0.01}`` and ``x[3] += 0.5`` twice gives
``{"x[3]+=": 1.0}``: an integer that is a whole subscript (``[3]``) names a place, so it is part
of the key, not a value. Comments (``#`` and ``//``) and string literals are skipped. Two programs are then compared over the union of their keys, a
missing key reading as 0 (archives/pq.py).
"""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"(?<![\w.)\]])(-\s*)?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w.])")
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_COMMENT = re.compile(r"(?:#|//).*$")
_INDEX = re.compile(r"\[\s*\d+\s*\]")
_KEY_CHARS = 40


def constants(source: str) -> dict[str, float]:
    """The program's numeric literals keyed by the text before them on their line."""
    out: dict[str, float] = {}
    for raw in source.splitlines():
        line = _COMMENT.sub("", _STRING.sub('""', raw))
        indices = {m.start() for m in _INDEX.finditer(line)}
        for match in _NUMBER.finditer(line):
            if _is_index(line, match.start(), indices):
                continue
            key = re.sub(r"\s+", "", line[: match.start()])[-_KEY_CHARS:]
            try:
                value = float(match.group().replace(" ", ""))
            except ValueError:
                continue
            if math.isfinite(value):
                out[key] = out.get(key, 0.0) + value
    return out


def _is_index(line: str, start: int, indices: set[int]) -> bool:
    """Whether the literal at `start` is a whole subscript such as the 3 of ``x[3]``."""
    bracket = line.rfind("[", 0, start)
    return bracket in indices and not line[bracket + 1:start].strip()
