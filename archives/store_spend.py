"""A run's LLM calls grouped by what they came to, for the spend report (agent/spend.py).

One grouped query over `llm_calls` joined to the programs the calls are linked to: per model,
purpose, role, whether the call failed, and the linked program's status, the number of calls
and their dollars. Deciding which outcome a group stands for is agent/spend.py's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from archives.store import Store
from archives.store_models import LLMCallRow, ProgramRow


@dataclass(frozen=True)
class CallGroup:
    """The calls of one run that share a model, purpose, role, failure and program status."""

    model: str
    purpose: str  # "proposer" | "target" | "judge" (NULL in the table reads "proposer")
    role: str | None  # the proposer's role ("draft", "plan", "summarize", ...), None when unrecorded
    failed: bool  # the call ended in an error (`llm_calls.error` is set)
    program_status: str | None  # the linked program's status; None: the call is linked to none
    calls: int
    cost: float  # dollars


def call_groups(store: Store, run_id: str) -> list[CallGroup]:
    """The run's LLM calls in `CallGroup`s, most expensive first."""
    L, P = LLMCallRow, ProgramRow
    purpose = func.coalesce(L.purpose, "proposer")
    failed = L.error.is_not(None)
    cost = func.coalesce(func.sum(L.cost), 0.0)
    query = (
        select(L.model, purpose, L.role, failed, P.status, func.count(), cost)
        .select_from(L)
        .outerjoin(P, P.id == L.program_id)
        .where(L.run_id == run_id)
        .group_by(L.model, purpose, L.role, failed, P.status)
        .order_by(cost.desc(), L.model)
    )
    with store._session("read the spend by outcome") as s:
        return [
            CallGroup(model, purpose, role, bool(fail), status, int(n), float(dollars))
            for model, purpose, role, fail, status, n, dollars in s.execute(query)
        ]
