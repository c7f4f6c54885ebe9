"""What a run's LLM dollars bought: per model, the calls and dollars that ended in each outcome.

An outcome is decided per call, from the call and the program it is linked to:
- "evaluated": the call's program was evaluated (correct, wrong, build_failed, timeout, error);
- "pending": its program waits for its evaluation (a run in progress, or one stopped before its
  evaluation finished, which a resumed run evaluates);
- "duplicate": its program was a copy or near-copy of one the run had, so it was not evaluated;
- "unapplied": its program's edit did not apply (`apply_failed`);
- "summary": a bookkeeping call that proposes no program: summarising the memory ("summarize"),
  rewriting a meta-prompt ("meta"), distilling knowledge ("distil");
- "nothing": the call failed (no answer, whatever it is linked to) or was never linked to a
  program (e.g. paid for after the run's time was up).
A "plan" call is stored linked to the child that implemented its plan, so it belongs to that
child's outcome, like the call that wrote the child.

Only the proposer's calls are sorted this way. The calls an evaluator makes (a prompt task's
target model, an LLM judge: `purpose` "target" or "judge") are the evaluation itself; they are
reported apart, per model (`SpendReport.evaluator`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archives.records import Status

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported where it is read: the summary table needs none of it
    from archives.store import Store
    from archives.store_spend import CallGroup

OUTCOMES = ("evaluated", "pending", "duplicate", "unapplied", "summary", "nothing")
ALWAYS_SHOWN = ("evaluated", "duplicate", "unapplied", "summary", "nothing")  # "pending" when there is some
BOOKKEEPING_ROLES = frozenset({"summarize", "meta", "distil"})
_BY_STATUS = {
    **{status: "evaluated" for status in Status.EVALUATED},
    Status.PENDING: "pending",
    Status.DUPLICATE: "duplicate",
    Status.APPLY_FAILED: "unapplied",
}


@dataclass(frozen=True)
class Spend:
    calls: int = 0
    dollars: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.calls + other.calls, self.dollars + other.dollars)


@dataclass(frozen=True)
class ModelOutcomes:
    """One model's proposer calls by outcome (`outcomes` has every name in OUTCOMES)."""

    model: str
    outcomes: dict[str, Spend]

    @property
    def total(self) -> Spend:
        return sum(self.outcomes.values(), Spend())

    @property
    def dollar_share(self) -> float | None:
        """The share of the dollars that bought an evaluation; None when nothing was paid."""
        total = self.total.dollars
        return self.outcomes["evaluated"].dollars / total if total > 0 else None

    @property
    def call_share(self) -> float | None:
        """The share of the calls that bought an evaluation; None when there was no call."""
        total = self.total.calls
        return self.outcomes["evaluated"].calls / total if total else None


@dataclass(frozen=True)
class SpendReport:
    models: tuple[ModelOutcomes, ...]  # the proposer's calls, the most expensive model first
    evaluator: dict[str, Spend] = field(default_factory=dict)  # model -> the evaluator's calls

    @property
    def all_models(self) -> ModelOutcomes:
        """Every model's proposer calls together (model "all models")."""
        return ModelOutcomes("all models", {o: sum((m.outcomes[o] for m in self.models), Spend()) for o in OUTCOMES})


def outcome_of(group: CallGroup) -> str | None:
    """The outcome of the calls in `group` (see the module docstring); None for the evaluator's."""
    if group.purpose != "proposer":
        return None
    if group.failed:
        return "nothing"
    if group.role in BOOKKEEPING_ROLES:
        return "summary"
    return _BY_STATUS.get(group.program_status or "", "nothing")


def spend_by_outcome(store: Store, run_id: str) -> SpendReport:
    """Per model, the calls and dollars of `run_id` that ended in each outcome."""
    from archives.store_spend import call_groups

    proposer: dict[str, dict[str, Spend]] = {}
    evaluator: dict[str, Spend] = {}
    for group in call_groups(store, run_id):
        spend = Spend(group.calls, group.cost)
        outcome = outcome_of(group)
        if outcome is None:
            evaluator[group.model] = evaluator.get(group.model, Spend()) + spend
            continue
        outcomes = proposer.setdefault(group.model, {o: Spend() for o in OUTCOMES})
        outcomes[outcome] = outcomes[outcome] + spend
    models = [ModelOutcomes(model, outcomes) for model, outcomes in proposer.items()]
    models.sort(key=lambda m: (-m.total.dollars, -m.total.calls, m.model))
    return SpendReport(tuple(models), dict(sorted(evaluator.items())))


def shown_outcomes(report: SpendReport) -> tuple[str, ...]:
    """The outcomes to show: ALWAYS_SHOWN, with "pending" when some call is pending."""
    pending = report.all_models.outcomes["pending"].calls > 0
    return tuple(o for o in OUTCOMES if o in ALWAYS_SHOWN or pending)


def outcome_summary(report: SpendReport) -> str:
    """One line over all models, for the end-of-run summary, e.g. "evaluated 12 ($0.3000),
    duplicate 4 ($0.1000), unapplied 2 ($0.0500), summary 1 ($0.0100), nothing 0 ($0.0000)";
    "" when the proposer made no call."""
    if not report.models:
        return ""
    every = report.all_models.outcomes
    return ", ".join(f"{o} {every[o].calls} (${every[o].dollars:.4f})" for o in shown_outcomes(report))


def spend_lines(store: Store, run_id: str) -> list[str]:
    """`agent show`'s lines on the spend by outcome: per model a small table (and the total of
    all models when there are several), then the evaluator's calls; [] for a run without calls."""
    report = spend_by_outcome(store, run_id)
    if not report.models and not report.evaluator:
        return []
    lines = ["LLM spend by outcome"]
    shown = shown_outcomes(report)
    rows = [*report.models, report.all_models] if len(report.models) > 1 else list(report.models)
    for row in rows:
        lines.append(f"  {row.model}: {_money(row.total)}; {_shares(row)}")
        lines.append(f"    {'outcome':<10} {'dollars':>10} {'calls':>6}")
        lines += [f"    {o:<10} {_dollars(row.outcomes[o].dollars):>10} {row.outcomes[o].calls:>6}" for o in shown]
    if report.evaluator:
        lines.append("  the evaluator's calls (a prompt task's target model, an LLM judge), apart from the above:")
        lines += [f"    {model}: {_money(spend)}" for model, spend in report.evaluator.items()]
    return lines


def _shares(row: ModelOutcomes) -> str:
    dollars, calls = row.dollar_share, row.call_share
    text = "bought an evaluation: " + (f"{dollars:.0%} of the dollars, " if dollars is not None else "")
    return text + (f"{calls:.0%} of the calls" if calls is not None else "no call")


def _money(spend: Spend) -> str:
    return f"{_dollars(spend.dollars)} over {spend.calls} call{'' if spend.calls == 1 else 's'}"


def _dollars(x: float) -> str:
    return f"${x:.4f}"
