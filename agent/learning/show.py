"""`agent show`'s lines about the learning proposer: for a run, what it chose and what that
earned (agent/learning/audit.py); for a program, how it was proposed.

Both return plain text lines (no markup: print them with `markup=False` through rich, since
meta-prompts and plans are LLM text) and return no line at all for a run or program that
recorded nothing of the learning parts, so older runs show as before.
"""

from __future__ import annotations

from typing import Iterable

from agent.learning.audit import KnowledgeUse, ProposerAudit, knowledge_ids, proposer_audit
from archives.records import LLMCall, Plan, Program
from archives.store import Store

TEXT_CHARS = 100  # LLM text (plans, transformations) is clipped to one line of this length
PLANS_SHOWN = 5
KNOWLEDGE_SHOWN = 10


def show_lines(store: Store, run_id: str) -> list[str]:
    """What `agent show` prints after its tables: `run_lines`, then how the run's best program
    was proposed (`program_lines`); [] when the run recorded nothing of the learning parts."""
    lines = run_lines(store, run_id)
    best = store.best_programs(run_id, 1)
    if best:
        plan_id = best[0].proposal.get("plan_id")
        plan = next((p for p in store.plans(run_id) if p.id == plan_id), None) if plan_id else None
        made = program_lines(best[0], store.llm_calls(program_id=best[0].id), plan)
        lines += [f"best program {best[0].id[:8]}", *(f"  {line}" for line in made)] if made else []
    return lines


def run_lines(store: Store, run_id: str) -> list[str]:
    """What the learning proposer did in `run_id`; [] when it recorded nothing."""
    audit = proposer_audit(store, run_id)
    if not audit.recorded:
        return []
    return ["learning proposer", *_roles(audit), *_meta_prompts(audit), *_plans(audit), *_knowledge(audit)]


def program_lines(program: Program, calls: Iterable[LLMCall], plan: Plan | None = None) -> list[str]:
    """How `program` was proposed: the choices stored with it, its plan (`plan`, else the answer
    of its "plan" call) and the role and reward of each call that made it; [] for a program
    proposed without the learning parts."""
    calls = [c for c in calls if c.role]
    choices = program.proposal
    lines = []
    parts = [
        f"role {choices['role']}" if choices.get("role") else "",
        f"model {choices['model']}" if choices.get("model") else "",
        f"meta-prompt {_id(choices['meta_prompt_id'])}" if choices.get("meta_prompt_id") else "",
        f"plan {_id(choices['plan_id'])}" if choices.get("plan_id") else "",
        "knowledge " + ", ".join(_id(k) for k in knowledge_ids(choices)) if knowledge_ids(choices) else "",
    ]
    if any(parts):
        lines.append("proposal: " + " · ".join(p for p in parts if p))
    plan_text = plan.text if plan is not None else next((c.response for c in calls if c.role == "plan"), "")
    if plan_text.strip():
        lines.append("plan: " + clip(plan_text, 2 * TEXT_CHARS))
    if calls:
        lines.append("calls: " + " · ".join(f"{c.role} {c.model} reward {_num(c.reward)}" for c in calls))
    return lines


def clip(text: str, limit: int = TEXT_CHARS) -> str:
    """`text` on one line (whitespace runs made one space), cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _id(value: object) -> str:
    return str(value)[:8]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def _roles(audit: ProposerAudit) -> list[str]:
    if not audit.roles:
        return []
    role_width = max(len(r.role) for r in audit.roles)
    model_width = max(len(r.model) for r in audit.roles)
    lines = ["  models by role (calls, dollars, mean reward):"]
    for r in audit.roles:
        failed = f", {r.failed} failed" if r.failed else ""
        reward = f"mean reward {_num(r.mean_reward)}" + (f" ({r.rewarded} rewarded)" if r.rewarded else "")
        calls = _count(r.calls, "call", "calls")
        lines.append(f"    {r.role:<{role_width}}  {r.model:<{model_width}}  {calls}{failed}  ${r.cost:.4f}  {reward}")
    return lines


def _meta_prompts(audit: ProposerAudit) -> list[str]:
    metas = audit.meta_prompts
    if not metas:
        return []
    rewrites = sum(m.origin == "rewrite" for m in metas)
    lines = [f"  meta-prompts: {len(metas)} ({rewrites} rewritten by the LLM); children, gain over the parent:"]
    for m in metas:
        origin = f"rewrite of {_id(m.parent_id)}" if m.parent_id else m.origin
        measured = (
            f"{m.improved} of {m.compared} compared gained, mean gain {_signed(m.mean_gain)}"
            if m.compared else "none compared with a correct parent"
        )  # fmt: skip
        lines.append(f"    {'  ' * m.depth}{_id(m.id)}  {origin}: {_count(m.children, 'child', 'children')}, {measured}")
    return lines


def _plans(audit: ProposerAudit) -> list[str]:
    plans = audit.plans
    if not plans:
        return []
    implemented = sum(p.program_id is not None for p in plans)
    gained = [p for p in plans if p.gain is not None and p.gain > 0]
    lines = [f"  plans: {len(plans)} written, {implemented} implemented, {len(gained)} gained"]
    ranked = sorted(plans, key=lambda p: (p.gain is None, -(p.gain or 0.0), p.created_at))
    for p in ranked[:PLANS_SHOWN]:
        child = f" -> {_id(p.program_id)}" if p.program_id else " (not implemented)"
        lines.append(f"    {_id(p.id)}  gain {_signed(p.gain)}  {_id(p.parent_program_id)}{child}  {clip(p.text)}")
    if len(plans) > PLANS_SHOWN:
        lines.append(f"    ... {len(plans) - PLANS_SHOWN} more (agent view shows them all)")
    return lines


def _knowledge(audit: ProposerAudit) -> list[str]:
    lines = []
    if audit.knowledge_used:
        lines.append(f"  knowledge used: {_count(len(audit.knowledge_used), 'entry', 'entries')}")
        lines += [_entry(u, used=True) for u in audit.knowledge_used[:KNOWLEDGE_SHOWN]]
        if len(audit.knowledge_used) > KNOWLEDGE_SHOWN:
            lines.append(f"    ... {len(audit.knowledge_used) - KNOWLEDGE_SHOWN} more")
    if audit.knowledge_written:
        lines.append(f"  knowledge distilled by this run: {_count(len(audit.knowledge_written), 'entry', 'entries')}")
        lines += [_entry(u, used=False) for u in audit.knowledge_written[:KNOWLEDGE_SHOWN]]
        if len(audit.knowledge_written) > KNOWLEDGE_SHOWN:
            lines.append(f"    ... {len(audit.knowledge_written) - KNOWLEDGE_SHOWN} more")
    return lines


def _entry(u: KnowledgeUse, used: bool) -> str:
    here = f"by {_count(u.used_by, 'program', 'programs')} ({u.gained} gained)  " if used else ""
    if not u.found:
        return f"    {_id(u.id)}  {here}(no longer in the store)"
    record = f"gain {_signed(u.gain)}, {u.uses} uses, {u.wins} wins" + (", demoted" if u.demoted else "")
    origin = f", from run {_id(u.run_id)}" if used and u.run_id else ""
    return f"    {_id(u.id)}  {here}{clip(u.transformation)}  ({record}{origin})"
