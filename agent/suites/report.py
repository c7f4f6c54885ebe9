"""A suite's numbers, read from the store: one row per problem and the overall figures papers print.

Per problem: whether its run found a correct program (and why not), the best correct program's
runtime, speedups over the reference in eager mode (`speedup`) and over its torch.compile
(`speedup_vs_compile`), roofline fraction, and the evaluations and dollars its run used.

Overall, KernelBench's fast_p: the share of ALL the suite's problems that are correct and
faster than the baseline by more than p (p = 1, 1.2, 2), over eager and over torch.compile.
Problems that could not run, failed or are not run yet stay in the denominator: they are never
dropped and never count as correct. Without a GPU nothing is timed; fast_p is then None (not
0: nothing was measured), and the geometric-mean speedup over correct timed problems too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from archives.records import SUITE_PROBLEM_STATUSES, Status, Suite, SuiteProblem
from archives.store import Store, StoreError

FAST_P = ("1", "1.2", "2")
"""The thresholds of fast_p, as the keys of `SuiteReport.fast[...]`."""

BASELINES = {"eager": "speedup", "compile": "speedup_vs_compile"}
"""Each baseline's name in the report -> the judge's metric of the speedup over it."""

_NEVER_CORRECT = ("pending", "cannot_run", "failed")
# How far an attempt got, for saying why a problem has no correct program (the furthest, newest attempt).
_PROGRESS = (Status.APPLY_FAILED, Status.BUILD_FAILED, Status.ERROR, Status.TIMEOUT, Status.WRONG)


@dataclass(frozen=True)
class ProblemRow:
    """One problem of the suite: how its run did."""

    name: str
    status: str  # the SuiteProblem status
    correct: bool  # its run has at least one correct program
    why: str | None  # when not correct: the reason (cannot_run/failed reason, the best attempt's status
    # and error, or "not run yet")
    run_id: str | None
    best_program_id: str | None
    runtime_ms: float | None  # best correct program's
    speedup_eager: float | None  # metrics["speedup"]
    speedup_compile: float | None  # metrics["speedup_vs_compile"]
    roofline_fraction: float | None
    evaluations: int  # programs judged in its run
    dollars: float  # LLM spend of its run
    timed: bool  # whether the best correct program was timed (no GPU: False)


@dataclass(frozen=True)
class SuiteReport:
    """A suite's rows (in name order) and its overall figures (see the module docstring)."""

    suite: Suite
    rows: tuple[ProblemRow, ...]
    problems: int
    correct: int
    fast: dict[str, dict[str, float | None]]  # {"eager": {"1": share, "1.2": ..., "2": ...}, "compile": {...}}
    geomean_speedup: dict[str, float | None]  # {"eager": x, "compile": y} over correct timed problems
    dollars: float
    evaluations: int
    statuses: dict[str, int]  # problems per SuiteProblem status

    @property
    def correct_share(self) -> float | None:
        return self.correct / self.problems if self.problems else None


def build_report(store: Store, suite_name: str) -> SuiteReport:
    """The report of suite `suite_name` (StoreError, one line, when the store has no such suite)."""
    suite = store.find_suite(suite_name)
    if suite is None:
        known = ", ".join(s.name for s in store.suites()) or "none"
        raise StoreError(f"no suite {suite_name!r} in this store (suites there: {known})")
    rows = tuple(problem_row(store, p) for p in store.suite_problems(suite_name))
    statuses = {status: 0 for status in SUITE_PROBLEM_STATUSES}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    return SuiteReport(
        suite=suite,
        rows=rows,
        problems=len(rows),
        correct=sum(r.correct for r in rows),
        fast={name: fast_p(rows, name) for name in BASELINES},
        geomean_speedup={name: geomean_speedup(rows, name) for name in BASELINES},
        dollars=sum(r.dollars for r in rows),
        evaluations=sum(r.evaluations for r in rows),
        statuses=statuses,
    )


def problem_row(store: Store, problem: SuiteProblem) -> ProblemRow:
    """How `problem`'s run did: its best correct program, or why it has none. A problem that is
    pending, could not run or failed is never correct (whatever its run found before it stopped),
    but what its run spent is counted."""
    row = ProblemRow(name=problem.name, status=problem.status, correct=False, why=None, run_id=problem.run_id,
                     best_program_id=None, runtime_ms=None, speedup_eager=None, speedup_compile=None,
                     roofline_fraction=None, evaluations=0, dollars=0.0, timed=False)
    if problem.run_id is None:
        started = problem.status in ("pending", "running")
        return replace(row, why=problem.reason or ("not run yet" if started else "no run was recorded"))
    try:
        summary = store.run_summary(problem.run_id)
    except StoreError:
        return replace(row, why=problem.reason or f"its run {problem.run_id} is not in the store")
    row = replace(row, evaluations=summary.evaluated, dollars=summary.cost)
    best = [] if problem.status in _NEVER_CORRECT else store.best_programs(problem.run_id, 1)
    if not best:
        return replace(row, why=_why_none_correct(store, problem))
    metrics = best[0].metrics
    eager = _number(metrics, BASELINES["eager"])
    return replace(row, correct=True, best_program_id=best[0].id, runtime_ms=_number(metrics, "runtime_ms"),
                   speedup_eager=eager, speedup_compile=_number(metrics, BASELINES["compile"]),
                   roofline_fraction=_number(metrics, "roofline_fraction"), timed=eager is not None)


def fast_p(rows: tuple[ProblemRow, ...], baseline: str) -> dict[str, float | None]:
    """fast_p over `baseline` ("eager" | "compile") for each p of FAST_P: the share of all rows
    that are correct with a speedup above p; None for every p when no row has that speedup."""
    speedups = [_speedup(r, baseline) for r in rows]
    if not rows or all(s is None for s in speedups):
        return {p: None for p in FAST_P}
    return {p: sum(1 for s in speedups if s is not None and s > float(p)) / len(rows) for p in FAST_P}


def geomean_speedup(rows: tuple[ProblemRow, ...], baseline: str) -> float | None:
    """Geometric mean of the speedups over `baseline` of the correct timed rows (None: none)."""
    speedups = [s for s in (_speedup(r, baseline) for r in rows) if s is not None and s > 0]
    if not speedups:
        return None
    return math.exp(sum(math.log(s) for s in speedups) / len(speedups))


def _speedup(row: ProblemRow, baseline: str) -> float | None:
    if not row.correct:
        return None
    return row.speedup_eager if baseline == "eager" else row.speedup_compile


def _number(metrics: dict[str, float], key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _why_none_correct(store: Store, problem: SuiteProblem) -> str:
    """Why a problem with a run has no correct program: its reason (cannot_run, failed), else the
    furthest, newest attempt's status and error (a failed problem's reason is followed by it)."""
    if problem.status in ("cannot_run", "pending"):
        return problem.reason or ("not run yet" if problem.status == "pending" else "cannot run here")
    parts = [problem.reason] if problem.status == "failed" and problem.reason else []
    briefs = store.program_briefs(problem.run_id, _PROGRESS, order="seq")
    if briefs:
        best = max(briefs, key=lambda b: (_PROGRESS.index(b.status), b.seq))
        detail = (best.error or "").strip().splitlines()
        parts.append(f"best attempt {best.status}" + (f": {detail[0][:300]}" if detail else ""))
    elif not parts:
        parts.append("no program was judged")
    return "; ".join(parts)
