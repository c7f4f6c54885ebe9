"""The learning parts one LLM proposer uses (each None when switched off), and what a child
taught them: `improvement_of` is the one rule every part is credited by.

    improvement = child.fitness - parent.fitness   both correct (negative: the child lost)
                = fix_gain                          the parent failed, the child is correct
                = None                              the child failed, was a duplicate or was
                                                    never applied: no gain

`fix_gain` is the largest improvement seen so far in the run (1.0 before there is one), so a
repair counts as a success on the scale of the run's other successes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from archives.records import LLMCall, Program

PROPOSAL_ROLES = ("draft", "fix")  # the roles of a proposal's implementation call


@dataclass
class LearningParts:
    """What `LLMProposer` consults around each call (agent/proposers.py)."""

    chooser: Any = None  # agent/learning/model_choice.py ModelChooser
    meta_prompts: Any = None  # agent/learning/metaprompts.py MetaPromptPool
    planner: Any = None  # agent/learning/planning.py Planner
    knowledge: Any = None  # agent/learning/knowledge.py KnowledgeBase
    knowledge_context: dict[str, str] = field(default_factory=dict)  # kind, language, op, gpu
    reference: str = ""  # the code knowledge is retrieved by (the task's reference or initial program)
    retrieve: int = 3
    distil_every: int = 5
    diagnosis: bool = False
    set_reward: Callable[[str, float | None], None] | None = None  # Store.set_call_reward
    record_call: Callable[[LLMCall], None] | None = None  # Store.add_llm_call (bookkeeping calls)
    run_id: str = ""
    largest_gain: float = 0.0  # the largest improvement before this session (a resumed run's)
    warn: Callable[[str], None] | None = None  # one line on the console (a part's work that came to nothing)


def improvement_of(child: Program, parent: Program | None, fix_gain: float) -> float | None:
    """What `child` brought over `parent`, by the rule in the module docstring."""
    if not child.is_correct:
        return None
    if parent is not None and parent.is_correct:
        return float(child.fitness) - float(parent.fitness)
    return fix_gain if parent is not None else None


def largest_gain(programs: list[Program]) -> float:
    """The largest improvement of a correct child over its correct parent among `programs` (0.0: none)."""
    by_id = {p.id: p for p in programs}
    gains = [
        float(p.fitness) - float(by_id[p.parent_id].fitness)
        for p in programs
        if p.is_correct and p.parent_id in by_id and by_id[p.parent_id].is_correct
    ]
    return max([0.0, *gains])


def knowledge_line(entry: Any) -> str:
    """A knowledge entry as one item of a prompt's "What worked before" section."""
    gain = f" (gained {entry.gain:+.4g})" if entry.gain else ""
    text = f"{entry.transformation.strip()}{gain}"
    if entry.avoid.strip():
        text += f"\nAvoid: {entry.avoid.strip()}"
    return text
