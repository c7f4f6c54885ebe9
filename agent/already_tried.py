"""What was already proposed from a parent, as short texts for the next prompt.

A model asked again and again to improve the same program tends to propose the same change
again; each repeat is a paid call that ends as a duplicate. `tried_children` lists the parent's
recent children as a few changed lines each (its duplicates first, then its newest other
children, then the run's programs that are a small change from this parent too), so the
prompt's "# Already tried from this program" section (templates/already_tried.j2) can ask for
something else. Children whose edit did not apply made no program and are left out: their errors
are already in the prompt's "Your last attempts on this program failed".
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import TYPE_CHECKING

from agent.edits import unified_diff
from archives.records import Program, Status

if TYPE_CHECKING:
    from archives.store import Store

__all__ = ["short_diff", "tried_children", "tried_text"]

_DIFF_LINES = 6  # changed lines shown per child
_LINE_CHARS = 100  # a changed line longer than this is cut
_ERROR_CHARS = 120  # the child's error, cut, in its heading
_SCANNED = 50  # newest children looked at per parent
_RECENT_PROGRAMS = 50  # the run's newest programs looked at for ones near the parent
_EXISTS = "Already exists (proposing it again is wasted):"


def tried_children(store: Store, parent_id: str, limit: int = 5) -> list[str]:
    """Up to `limit` short texts of what was already proposed from this parent, most wasteful first:

    1. its children that duplicated an existing program, newest first;
    2. its other children, newest first (pending or evaluated: what they came to);
    3. programs that exist near it: its own parent, then the run's newest programs (siblings,
       cousins, duplicates proposed from other parents), each as the change from this parent it
       would be (only small changes: a far-away program is no risk here).

    The same change is listed once; children that made no program (the edit did not apply) are
    left out. An unknown parent has nothing listed.
    """
    from archives.store_models import StoreError

    if limit <= 0:
        return []
    try:
        parent = store.get_program(parent_id)
    except StoreError:
        return []
    children = [c for c in store.children(parent_id)[-_SCANNED:] if c.diff and c.status != Status.APPLY_FAILED]
    children.reverse()  # newest first
    own = [tried_text(c, short_diff(c.diff or "")) for c in children if c.status == Status.DUPLICATE]
    others = [tried_text(c, short_diff(c.diff or "")) for c in children if c.status != Status.DUPLICATE]
    texts: dict[str, str] = {}  # change -> its entry
    for entry in chain(own, others, _existing_nearby(store, parent)):
        change = entry.partition("\n")[2]
        if change and change not in texts:
            texts[change] = entry
            if len(texts) == limit:
                break
    return list(texts.values())


def _existing_nearby(store: Store, parent: Program) -> Iterator[str]:
    """The parent's own parent, then the run's newest programs (duplicates included: a duplicate's
    source is a copy of one that exists), that are a small change from `parent`; read only when the
    entries before them left room."""
    if parent.parent_id is not None:
        yield from _near(parent, [store.get_program(parent.parent_id)])
    total = sum(store.status_counts(parent.run_id).values())
    recent = store.programs(parent.run_id, offset=max(0, total - _RECENT_PROGRAMS))
    yield from _near(parent, [p for p in reversed(recent) if p.parent_id != parent.id and p.id != parent.id])


def _near(parent: Program, programs: list[Program]) -> Iterator[str]:
    """Entries for the `programs` that are a small change from `parent` (others are left out)."""
    lines = len(parent.source.splitlines())
    for program in programs:
        if not program.source or program.source == parent.source:
            continue
        if abs(len(program.source.splitlines()) - lines) > _DIFF_LINES:  # cannot be a small change
            continue
        diff = unified_diff(parent.source, program.source)
        if len(_changed_lines(diff)) <= _DIFF_LINES:
            yield f"{_EXISTS}\n{short_diff(diff)}"


def tried_text(child: Program, change: str) -> str:
    """One entry of the section: a first line saying what the child came to, then its changed lines."""
    return f"{_outcome(child)}\n{change}"


def short_diff(diff: str, max_lines: int = _DIFF_LINES) -> str:
    """The changed lines of a unified diff ("-" removed, "+" added, indentation kept), at most
    `max_lines`, each cut short."""
    changed = _changed_lines(diff)
    shown = [_cut(line, _LINE_CHARS) for line in changed[:max_lines]]
    if len(changed) > max_lines:
        shown.append(f"... ({len(changed) - max_lines} more changed lines)")
    return "\n".join(shown)


def _changed_lines(diff: str) -> list[str]:
    return [
        line.rstrip()
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---")) and line[1:].strip()
    ]


def _outcome(child: Program) -> str:
    if child.status == Status.DUPLICATE:
        return _EXISTS
    if child.is_correct:
        return f"Correct, fitness {child.fitness:.6g}:"
    if child.status == Status.PENDING:
        return "Being evaluated now:"
    error = " ".join((child.error or "").split())
    error = f" ({_cut(error, _ERROR_CHARS)})" if error else ""
    return f"Tried, {child.status.replace('_', ' ')}{error}:"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
