"""Line diffs computed on the server, shaped for the viewer: hunks of numbered lines."""

from __future__ import annotations

import difflib
from typing import Any

MAX_LINES = 20_000
"""Sources longer than this (either side) are not diffed line by line."""


def line_diff(old: str, new: str, *, context: int = 3) -> dict[str, Any]:
    """The changes from `old` to `new` as hunks.

    Returns ``{"identical", "added", "removed", "too_large", "hunks"}``; each hunk has a
    ``header`` (``@@ -a,n +b,m @@``) and ``lines``: ``{"op": " " | "-" | "+", "old": line
    number or None, "new": line number or None, "text": the line without its newline}``.
    """
    a, b = old.splitlines(), new.splitlines()
    result: dict[str, Any] = {"identical": old == new, "added": 0, "removed": 0, "too_large": False, "hunks": []}
    if old == new:
        return result
    if len(a) > MAX_LINES or len(b) > MAX_LINES:
        result["too_large"] = True
        return result
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        lines: list[dict[str, Any]] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(_line(" ", i, j, a[i]) for i, j in zip(range(i1, i2), range(j1, j2)))
                continue
            if tag in ("replace", "delete"):
                lines.extend(_line("-", i, None, a[i]) for i in range(i1, i2))
                result["removed"] += i2 - i1
            if tag in ("replace", "insert"):
                lines.extend(_line("+", None, j, b[j]) for j in range(j1, j2))
                result["added"] += j2 - j1
        first, last = group[0], group[-1]
        header = f"@@ -{_span(first[1], last[2])} +{_span(first[3], last[4])} @@"
        result["hunks"].append({"header": header, "lines": lines})
    return result


def _line(op: str, old: int | None, new: int | None, text: str) -> dict[str, Any]:
    return {
        "op": op,
        "old": None if old is None else old + 1,
        "new": None if new is None else new + 1,
        "text": text,
    }


def _span(start: int, stop: int) -> str:
    """A hunk range as unified diffs write it (1-based start, then the line count)."""
    length = stop - start
    return f"{start + 1 if length else start},{length}"
