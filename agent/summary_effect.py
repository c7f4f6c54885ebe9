"""Whether the summarizer's recommendations change outcomes (agent/summarizer.py).

Every proposal records how many recommendations its prompt carried (`programs.proposal
["notes"]`). Among the children evaluated against a correct parent, `summary_effect` compares
the share that improved on their parent with and without recommendations. It is an
observation, not an experiment: recommendations arrive later in a run, when gains are rarer,
so a lower share with them does not by itself say they hurt; `search.pq.summarize_every: 0`
switches the summarizer off for a run to compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

from archives.records import Program, Status


@dataclass(frozen=True)
class Improved:
    improved: int = 0
    compared: int = 0

    @property
    def share(self) -> float | None:
        return self.improved / self.compared if self.compared else None


@dataclass(frozen=True)
class SummaryEffect:
    with_notes: Improved
    without_notes: Improved


def summary_effect(programs: list[Program]) -> SummaryEffect | None:
    """None when no child's prompt carried recommendations (no summarizer, or none made yet)."""
    by_id = {p.id: p for p in programs}
    counts = {True: [0, 0], False: [0, 0]}
    carried = False
    for child in programs:
        if not child.proposal:
            continue
        with_notes = bool(child.proposal.get("notes"))
        carried = carried or with_notes
        parent = by_id.get(child.parent_id or "")
        if child.status not in Status.EVALUATED or parent is None or not parent.is_correct:
            continue
        counts[with_notes][1] += 1
        counts[with_notes][0] += int(child.is_correct and child.fitness > parent.fitness)
    if not carried:
        return None
    return SummaryEffect(Improved(*counts[True]), Improved(*counts[False]))


def summary_effect_line(programs: list[Program], summary_calls: int) -> str | None:
    """`agent show`'s line, e.g. "summarizer: 3 calls; children whose prompt carried its
    recommendations improved on their parent in 20% (2 of 10), the others in 35% (7 of 20)"."""
    effect = summary_effect(programs)
    if effect is None:
        return None
    return (f"summarizer: {summary_calls} call{'' if summary_calls == 1 else 's'}; children whose prompt carried its "
            f"recommendations improved on their parent in {_share(effect.with_notes)}, "
            f"the others in {_share(effect.without_notes)}")


def _share(counts: Improved) -> str:
    if counts.share is None:
        return "- (none compared)"
    return f"{counts.share:.0%} ({counts.improved} of {counts.compared})"
