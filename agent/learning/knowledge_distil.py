"""The distillation request and its answer: improved pairs in, knowledge entry drafts out.

`improved_pairs` finds a run's (parent, child) pairs where both are correct and the child has
the higher fitness; `distil_messages` shows them to the LLM (template `distil.j2`: measured
gains, the diffs, and the parent's failed or worse children as material for "avoid");
`parse_drafts` reads the JSON array it answers with. The parser is lenient about the wrapping
(a ```json block, bare JSON, an object with an "entries" list, a single object) and strict
about the content: an item without a non-empty "transformation" is skipped, and an answer
with no JSON, or whose every item is unusable, is a `DistilAnswerError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from agent.edits import unified_diff
from agent.prompts import PromptError, _head, template_environment
from archives.records import Program, Status

__all__ = ["DistilAnswerError", "Draft", "Pair", "distil_messages", "improved_pairs", "parse_drafts"]

_DIFF_CHARS = 2500
_SIBLING_DIFF_CHARS = 700
_SIBLINGS = 2
_TRANSFORMATION_CHARS = 600
_AVOID_CHARS = 400
_METRICS = 6
_FENCE = re.compile(r"^\s*(`{3,})[ \t]*([\w+-]*)[ \t]*\n(.*?)^\s*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_SYSTEM = (
    "You study the changes that improved programs in an evolutionary code search and write down, "
    "briefly and in general terms, what worked and what to avoid, for later searches on similar tasks."
)


class DistilAnswerError(ValueError):
    """The LLM's answer holds no usable entries; the message says why, in one line."""


@dataclass(frozen=True)
class Pair:
    """A parent and a correct child of higher fitness."""

    parent: Program
    child: Program

    @property
    def gain(self) -> float:
        return float(self.child.fitness) - float(self.parent.fitness)  # both correct: fitness set


@dataclass(frozen=True)
class Draft:
    """One entry as the LLM wrote it; `pairs` are indexes into the pairs it was shown."""

    transformation: str
    avoid: str = ""
    gain: float | None = None
    pairs: tuple[int, ...] = ()


def improved_pairs(programs: Iterable[Program]) -> list[Pair]:
    """The pairs of `programs` (one run's) where parent and child are correct and the child is
    better, largest gain first."""
    correct = {p.id: p for p in programs if p.status == Status.CORRECT and p.fitness is not None}
    pairs = [
        Pair(correct[c.parent_id], c)
        for c in correct.values()
        if c.parent_id in correct and c.fitness > correct[c.parent_id].fitness
    ]
    return sorted(pairs, key=lambda pair: (-pair.gain, pair.child.seq))


def _diff(parent: Program, child: Program) -> str:
    return child.diff or unified_diff(parent.source, child.source)


def _sibling(parent: Program, sibling: Program) -> dict[str, str]:
    if sibling.status == Status.CORRECT:
        outcome = f"did worse (fitness {sibling.fitness:.6g})"
    else:
        reason = (sibling.error or "").strip().splitlines()
        outcome = f"failed ({sibling.status}{': ' + reason[0][:200] if reason else ''})"
    return {"outcome": outcome, "diff": _head(_diff(parent, sibling), _SIBLING_DIFF_CHARS)[0] or "(no change)"}


def _worse_siblings(pair: Pair, children: Sequence[Program]) -> list[Program]:
    def worse(c: Program) -> bool:
        if c.status == Status.CORRECT:
            return c.fitness is not None and c.fitness < pair.parent.fitness
        return c.status in Status.FAILED

    return [c for c in children if c.id != pair.child.id and c.source and worse(c)][-_SIBLINGS:]


def distil_messages(
    pairs: Sequence[Pair],
    children_of: Mapping[str, Sequence[Program]],
    context: Mapping[str, str],
    *,
    known: Sequence[str] = (),
    max_entries: int,
    templates_dir: Path | None = None,
) -> list[dict]:
    """The chat messages asking the LLM to distil `pairs` (numbered from 1). `children_of`
    maps a parent id to its children (for the failed or worse siblings); `known` are the
    transformations of entries the knowledge base already has for such tasks. A template
    that fails (a task's own distil.j2) is a `PromptError` naming it."""
    env = template_environment(templates_dir)
    shown = []
    for number, pair in enumerate(pairs, 1):
        diff, cut_lines = _head(_diff(pair.parent, pair.child), _DIFF_CHARS)
        metrics = list(pair.child.metrics.items())[:_METRICS]
        shown.append({
            "number": number,
            "parent_fitness": f"{pair.parent.fitness:.6g}",
            "child_fitness": f"{pair.child.fitness:.6g}",
            "gain": f"{pair.gain:+.6g}",
            "metrics": ", ".join(f"{k} = {v:.4g}" for k, v in metrics),
            "diff": diff or "(no change)",
            "cut_lines": cut_lines,
            "siblings": [_sibling(pair.parent, s) for s in _worse_siblings(pair, children_of.get(pair.parent.id, ()))],
        })
    language = context.get("language") or "program"
    try:
        user = env.get_template("distil.j2").render(
            language=language, artifact="prompt" if language == "text" else "program",
            context=[(k, v) for k, v in context.items() if v], pairs=shown, max_entries=max_entries,
            known=[" ".join(k.split()) for k in known],
        ).strip()  # fmt: skip
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"prompt template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise PromptError(f"prompt template distil.j2: {exc}") from None
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def _json_candidates(text: str) -> list[str]:
    """Texts that may be the answer's JSON: fenced blocks (json-tagged first), then the span
    from the first bracket to the last."""
    blocks = [(tag.lower() != "json", body) for _, tag, body in _FENCE.findall(text)]
    candidates = [body for _, body in sorted(blocks, key=lambda b: b[0])]
    for opening, closing in (("[", "]"), ("{", "}")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    return candidates


def _items(text: str) -> list[Any]:
    for candidate in _json_candidates(text):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            value = value.get("entries", [value])
        if isinstance(value, list):
            return value
    raise DistilAnswerError("the answer holds no JSON array of entries")


def _text(value: Any, limit: int) -> str:
    if isinstance(value, list):
        value = "; ".join(str(v).strip() for v in value if str(v).strip())
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _gain(value: Any) -> float | None:
    try:
        gain = float(str(value).strip().rstrip("x%")) if isinstance(value, (int, float, str)) else None
    except ValueError:
        return None
    return gain if gain is not None and math.isfinite(gain) else None


def _pairs(value: Any, count: int) -> tuple[int, ...]:
    numbers = value if isinstance(value, list) else [value]
    found = []
    for n in numbers:
        if isinstance(n, (int, float, str)) and str(n).strip().isdigit() and 1 <= int(str(n).strip()) <= count:
            found.append(int(str(n).strip()) - 1)
    return tuple(dict.fromkeys(found))


def parse_drafts(text: str, pair_count: int, max_entries: int) -> list[Draft]:
    """The entries of an answer (at most `max_entries`); `[]` for an empty array. Raises
    `DistilAnswerError` for an answer without JSON or whose every item is unusable."""
    items = _items(text)
    drafts = []
    for item in items:
        if not isinstance(item, dict):
            continue
        transformation = _text(item.get("transformation"), _TRANSFORMATION_CHARS)
        if not transformation:
            continue
        drafts.append(Draft(
            transformation, _text(item.get("avoid"), _AVOID_CHARS), _gain(item.get("gain")),
            _pairs(item.get("pairs", item.get("pair")), pair_count),
        ))  # fmt: skip
    if items and not drafts:
        raise DistilAnswerError(f"none of the answer's {len(items)} entries has a 'transformation'")
    return drafts[:max_entries]
