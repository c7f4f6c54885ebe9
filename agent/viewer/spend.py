"""The viewer's answer on what a run's LLM dollars bought (`/api/runs/{run}/spend/outcomes`):
per model, the proposer's calls and dollars by outcome (agent/spend.py says how a call's outcome
is decided), the share that bought an evaluation, and the evaluator's calls apart.

A run without LLM calls answers empty lists, and the page then shows no panel.
"""

from __future__ import annotations

from typing import Any

from agent.spend import ModelOutcomes, SpendReport, shown_outcomes, spend_by_outcome
from archives.store import Store


def run_spend_outcomes(store: Store, run_id: str) -> dict[str, Any]:
    """`outcomes`: the outcome names to show, in order; `models`: one row per model, the most
    expensive first; `all`: the models together (None when there is no model); `evaluator`:
    `{model, calls, dollars}` of the evaluator's calls (a prompt task's target model, a judge)."""
    report: SpendReport = spend_by_outcome(store, run_id)
    return {
        "outcomes": list(shown_outcomes(report)),
        "models": [_row(m) for m in report.models],
        "all": _row(report.all_models) if report.models else None,
        "evaluator": [{"model": m, "calls": s.calls, "dollars": s.dollars} for m, s in report.evaluator.items()],
    }


def _row(row: ModelOutcomes) -> dict[str, Any]:
    return {
        "model": row.model,
        "outcomes": row.outcomes,  # name -> Spend(calls, dollars); data.py's `jsonable` makes it JSON
        "total": row.total,
        "dollar_share": row.dollar_share,
        "call_share": row.call_share,
    }
