"""The summarizer's recommendations against outcomes (agent/summary_effect.py)."""

from __future__ import annotations

from agent.summary_effect import summary_effect, summary_effect_line
from archives.records import Program, Status


def child(pid: str, fitness: float | None, notes: int = 0, status: str = Status.CORRECT, parent: str = "p0") -> Program:
    proposal = {"role": "draft", "model": "m", **({"notes": notes} if notes else {})}
    return Program(id=pid, run_id="r", source=pid, parent_id=parent, status=status, fitness=fitness, proposal=proposal)


def test_children_with_and_without_recommendations_are_compared_against_their_parents():
    parent = Program(id="p0", run_id="r", source="x", status=Status.CORRECT, fitness=1.0)
    programs = [
        parent,
        child("a", 2.0), child("b", 0.5), child("c", 0.9),  # without: 1 of 3 improved
        child("d", 3.0, notes=2), child("e", 4.0, notes=2),  # with: 2 of 3 improved
        child("f", None, notes=2, status=Status.WRONG),
        child("g", None, notes=2, status=Status.DUPLICATE),  # not evaluated: not compared
        child("h", 9.0, notes=1, parent="missing"),  # no known parent: not compared
    ]
    effect = summary_effect(programs)
    assert (effect.with_notes.improved, effect.with_notes.compared) == (2, 3)
    assert (effect.without_notes.improved, effect.without_notes.compared) == (1, 3)
    line = summary_effect_line(programs, 4)
    assert line == ("summarizer: 4 calls; children whose prompt carried its recommendations improved on their parent "
                    "in 67% (2 of 3), the others in 33% (1 of 3)")


def test_without_recommendations_in_any_prompt_there_is_nothing_to_say():
    parent = Program(id="p0", run_id="r", source="x", status=Status.CORRECT, fitness=1.0)
    assert summary_effect([parent, child("a", 2.0)]) is None
    assert summary_effect_line([parent, child("a", 2.0)], 0) is None
