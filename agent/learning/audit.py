"""What the learning proposer did in one run, read back from the store: the models it chose
for each role and what they earned, its meta-prompts with their lineage and their children's
gains, its plans with theirs, and the knowledge entries its programs were shown.

`agent show` (agent/learning/show.py) prints this and the viewer serves it as JSON. Nothing
here writes. A run made without the learning parts (or before they existed) gives an audit
whose `recorded` is False, and the callers then show nothing.

A child's *gain* here is its fitness minus its parent's when both are correct, else None
(not compared): the audit reports what was measured, not the proposer's internal rewards,
which are shown separately (`LLMCall.reward`, `Plan.gain`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from archives.records import KnowledgeEntry, LLMCall, MetaPrompt, Plan, Program
from archives.store import Store

ROLE_ORDER = ("draft", "fix", "plan", "summarize", "meta", "distil")


@dataclass(frozen=True)
class RoleModel:
    """The calls one model answered in one role: how many, how many failed, their dollars, and
    the mean of the rewards the model choice recorded (`rewarded` of them had one)."""

    role: str
    model: str
    calls: int
    failed: int
    cost: float
    rewarded: int
    mean_reward: float | None


@dataclass(frozen=True)
class MetaPromptUse:
    """A meta-prompt of the run with its place in the lineage (`depth` 0: no parent in this run)
    and its children: how many programs it instructed, how many of them were compared with a
    correct parent, how many of those gained, and their mean gain."""

    id: str
    parent_id: str | None
    origin: str
    depth: int
    system: str
    hints: str
    children: int
    compared: int
    improved: int
    mean_gain: float | None
    created_at: float


@dataclass(frozen=True)
class KnowledgeUse:
    """A knowledge entry shown to this run's proposals (`used_by` programs, `gained` of them
    better than their parent) or distilled by this run. `found` is False for an entry the
    programs name that is no longer in the store (pruned); its other fields are then empty."""

    id: str
    found: bool
    transformation: str
    context: dict[str, str]
    gain: float
    avoid: str
    run_id: str
    uses: int
    wins: int
    demoted: bool
    used_by: int
    gained: int


@dataclass(frozen=True)
class ProposerAudit:
    roles: tuple[RoleModel, ...]
    meta_prompts: tuple[MetaPromptUse, ...]  # lineage order: each after its parent
    plans: tuple[Plan, ...]  # in the order they were written
    knowledge_used: tuple[KnowledgeUse, ...]  # most used first
    knowledge_written: tuple[KnowledgeUse, ...]  # distilled by this run

    @property
    def recorded(self) -> bool:
        """Whether the run recorded anything of the learning proposer."""
        return bool(self.roles or self.meta_prompts or self.plans or self.knowledge_used or self.knowledge_written)


def gain(child: Program, parent: Program | None) -> float | None:
    """The child's fitness minus its parent's when both are correct, else None."""
    if parent is None or not child.is_correct or not parent.is_correct:
        return None
    return float(child.fitness) - float(parent.fitness)  # type: ignore[arg-type]


def proposer_audit(store: Store, run_id: str) -> ProposerAudit:
    """Everything the learning proposer recorded for `run_id` (see the module docstring)."""
    programs = store.programs(run_id)
    by_id = {p.id: p for p in programs}
    gains = {p.id: gain(p, by_id.get(p.parent_id or "")) for p in programs}
    entries = {e.id: e for e in store.knowledge(include_demoted=True)}
    return ProposerAudit(
        roles=role_models(store.llm_calls(run_id=run_id)),
        meta_prompts=_meta_prompt_uses(store.meta_prompts(run_id), programs, gains),
        plans=tuple(store.plans(run_id)),
        knowledge_used=_knowledge_used(entries, programs, gains),
        knowledge_written=tuple(_use(e, 0, 0) for e in entries.values() if e.run_id == run_id),
    )


def role_models(calls: Iterable[LLMCall]) -> tuple[RoleModel, ...]:
    """Calls that carry a role, grouped by (role, model): roles in ROLE_ORDER (others after, by
    name), then the most expensive model first."""
    groups: dict[tuple[str, str], list[LLMCall]] = defaultdict(list)
    for call in calls:
        if call.role:
            groups[(call.role, call.model)].append(call)
    rows = []
    for (role, model), group in groups.items():
        rewards = [c.reward for c in group if c.reward is not None]
        rows.append(RoleModel(
            role=role, model=model, calls=len(group), failed=sum(c.error is not None for c in group),
            cost=sum(c.cost for c in group), rewarded=len(rewards),
            mean_reward=sum(rewards) / len(rewards) if rewards else None,
        ))  # fmt: skip
    rank = {r: i for i, r in enumerate(ROLE_ORDER)}
    rows.sort(key=lambda r: (rank.get(r.role, len(rank)), r.role, -r.cost, r.model))
    return tuple(rows)


def _meta_prompt_uses(
    metas: list[MetaPrompt], programs: list[Program], gains: dict[str, float | None]
) -> tuple[MetaPromptUse, ...]:
    children: dict[str, list[str]] = defaultdict(list)
    for p in programs:
        meta_id = p.proposal.get("meta_prompt_id")
        if meta_id:
            children[str(meta_id)].append(p.id)
    known = {m.id for m in metas}
    kids: dict[str | None, list[MetaPrompt]] = defaultdict(list)
    for m in sorted(metas, key=lambda m: (m.created_at, m.id)):
        kids[m.parent_id if m.parent_id in known else None].append(m)
    ordered: list[MetaPromptUse] = []

    def visit(m: MetaPrompt, depth: int) -> None:
        measured = [g for g in (gains.get(pid) for pid in children[m.id]) if g is not None]
        ordered.append(MetaPromptUse(
            id=m.id, parent_id=m.parent_id, origin=m.origin, depth=depth, system=m.system, hints=m.hints,
            children=len(children[m.id]), compared=len(measured), improved=sum(g > 0 for g in measured),
            mean_gain=sum(measured) / len(measured) if measured else None, created_at=m.created_at,
        ))  # fmt: skip
        for kid in kids[m.id]:
            visit(kid, depth + 1)

    for root in kids[None]:
        visit(root, 0)
    return tuple(ordered)


def _knowledge_used(
    entries: dict[str, KnowledgeEntry], programs: list[Program], gains: dict[str, float | None]
) -> tuple[KnowledgeUse, ...]:
    used: dict[str, int] = defaultdict(int)
    gained: dict[str, int] = defaultdict(int)
    for p in programs:
        for kid in knowledge_ids(p.proposal):
            used[kid] += 1
            gained[kid] += (gains.get(p.id) or 0.0) > 0
    uses = [_use(entries.get(kid), used[kid], gained[kid], kid) for kid in used]
    uses.sort(key=lambda u: (-u.used_by, u.id))
    return tuple(uses)


def knowledge_ids(proposal: dict[str, Any]) -> list[str]:
    """The knowledge entry ids a proposal names (a list, or one id as a string)."""
    ids = proposal.get("knowledge_ids") or []
    return [str(ids)] if isinstance(ids, str) else [str(i) for i in ids]


def _use(entry: KnowledgeEntry | None, used_by: int, gained: int, missing_id: str = "") -> KnowledgeUse:
    if entry is None:
        return KnowledgeUse(missing_id, False, "", {}, 0.0, "", "", 0, 0, False, used_by, gained)
    return KnowledgeUse(
        id=entry.id, found=True, transformation=entry.transformation, context=dict(entry.context),
        gain=entry.gain, avoid=entry.avoid, run_id=entry.run_id, uses=entry.uses, wins=entry.wins,
        demoted=entry.demoted, used_by=used_by, gained=gained,
    )  # fmt: skip
