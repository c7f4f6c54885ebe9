"""What the CLI shows: a live progress line while a run goes, and tables after it."""

from __future__ import annotations

import datetime as _dt
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.spend import outcome_summary
from archives.records import Program, Status

def _console(stderr: bool) -> Console:
    """A console that does not squeeze tables to 80 columns when output goes to a file or pipe."""
    console = Console(stderr=stderr, highlight=False)
    return console if console.is_terminal else Console(stderr=stderr, highlight=False, width=160)


console = _console(stderr=True)
out = _console(stderr=False)


class ProgressReporter:
    """Draws evaluations done / budget, best fitness, spend and rate; prints notable events."""

    def __init__(self, budget: int, already: int = 0, quiet: bool = False):
        self._quiet = quiet
        self._progress = Progress(
            TextColumn("[bold]evolve"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TextColumn("${task.fields[spent]:.4f}"),
            TextColumn("{task.fields[rate]:.1f} eval/min"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet or not console.is_terminal,
        )
        self._task = self._progress.add_task("evolve", total=budget, completed=already, best="-", spent=0.0, rate=0.0)
        self._best: float | None = None
        self._plain = not quiet and not console.is_terminal

    def __enter__(self) -> "ProgressReporter":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def start_from(self, best_fitness: float | None, evaluated: int) -> None:
        """A resumed run: what it had reached, so only a score above the stored best is new."""
        self._best = best_fitness
        best = "-" if best_fitness is None else f"{best_fitness:.6g}"
        self._progress.update(self._task, completed=evaluated, best=best)

    def evaluated(self, program: Program, state) -> None:
        best = "-" if state.best_fitness is None else f"{state.best_fitness:.6g}"
        self._progress.update(
            self._task, total=state.budget, completed=state.evaluated, best=best, spent=state.spent, rate=state.evals_per_minute
        )
        improved = program.is_correct and (self._best is None or program.fitness > self._best)
        if improved:
            self._best = program.fitness
        if self._quiet:
            return
        if improved:
            self._progress.console.print(
                f"[green]new best[/] {program.fitness:.6g}  program {program.id[:8]}  gen {program.generation}"
                f"  ({program.proposer})"
            )
        elif self._plain:
            what = f"{program.fitness:.6g}" if program.is_correct else f"{program.status}: {program.error or ''}"
            print(f"[{state.evaluated}/{state.budget}] {program.id[:8]} {what}"[:200], file=sys.stderr)

    def message(self, text: str) -> None:
        """Print one line, never wrapped (messages name paths and commands); under --quiet only
        warnings, so a fallback or a spending caveat is never silent."""
        if not self._quiet or text.startswith("warning:"):
            self._progress.console.print(text, markup=False, soft_wrap=True)


def summary_table(outcome) -> Table:
    """The end-of-run summary: status, counts, initial vs best (fitness and the task's
    `summary_metrics`, read from the run's stored config), spend, time."""
    summary = outcome.summary
    table = Table(title=f"run {outcome.run.id[:8]} ({outcome.run.task_name})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("status", f"{outcome.status}: {outcome.stop_reason}")
    table.add_row("evaluated", str(summary.evaluated))
    table.add_row("by status", _counts(summary.counts))
    if getattr(outcome, "judge_errors", 0):
        table.add_row("judge errors", f"{outcome.judge_errors} (the evaluator's fault: stored as error, not counted "
                                      "against the programs)")
    initial = outcome.initial
    if initial is not None:
        table.add_row("initial fitness", _fitness(initial))
    if outcome.best is not None:
        table.add_row("best fitness", f"{outcome.best.fitness:.6g}  (program {outcome.best.id[:8]}, gen {outcome.best.generation})")
        if initial is not None and initial.is_correct and initial.fitness:
            gain = (outcome.best.fitness - initial.fitness) / abs(initial.fitness) * 100
            table.add_row("improvement", f"{gain:+.1f}% over the initial program")
    for name in outcome.run.config.get("summary_metrics") or ():
        table.add_row(name, _metric_change(name, initial, outcome.best))
    table.add_row("LLM spend", f"${summary.cost:.4f} over {summary.llm_calls} calls, {summary.tokens} tokens"
                  + _spend_apart(getattr(summary, "cost_by_purpose", {})))
    spend = getattr(outcome, "spend", None)
    if spend is not None and spend.models:
        table.add_row("calls by outcome", outcome_summary(spend))
    table.add_row("wall time", f"{outcome.seconds:.1f} s this session")
    return table


def _metric_change(name: str, initial: Program | None, best: Program | None) -> str:
    """One row of the task's summary_metrics, e.g. "initial 8664.57 -> best 7168.3 (-17.3%)"."""

    def value(program: Program | None) -> float | None:
        if program is None or not program.is_correct:
            return None
        return program.metrics.get(name)

    before, after = value(initial), value(best)
    text = " -> ".join(
        f"{label} {'-' if v is None else f'{v:.6g}'}" for label, v in (("initial", before), ("best", after))
    )
    if before is not None and after is not None and before != 0:
        text += f" ({(after - before) / abs(before) * 100:+.1f}%)"
    return text


def runs_table(summaries) -> Table:
    table = Table(title="runs")
    for name in ("run", "task", "strategy", "status", "evaluated", "best", "spend", "started"):
        table.add_column(name)
    for s in summaries:
        table.add_row(
            s.run.id[:8],
            s.run.task_name,
            s.run.strategy,
            s.run.status,
            str(s.evaluated),
            "-" if s.best_fitness is None else f"{s.best_fitness:.6g}",
            f"${s.cost:.4f}",
            _when(s.run.started_at),
        )
    return table


def programs_table(programs: list[Program], title: str) -> Table:
    table = Table(title=title)
    for name in ("program", "gen", "parent", "status", "fitness", "proposer"):
        table.add_column(name)
    for p in programs:
        table.add_row(p.id[:8], str(p.generation), (p.parent_id or "-")[:8], p.status, _fitness(p), p.proposer)
    return table


def _fitness(program: Program) -> str:
    if program.status == Status.CORRECT and program.fitness is not None:
        return f"{program.fitness:.6g}"
    return f"{program.status}" + (f": {program.error}" if program.error else "")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _spend_apart(cost_by_purpose: dict[str, float]) -> str:
    """The spend by purpose, e.g. " (proposer $0.01, target $0.02)", when calls other than the
    proposer's were made (prompt tasks); "" otherwise."""
    if set(cost_by_purpose) <= {"proposer"}:
        return ""
    return " (" + ", ".join(f"{name} ${cost:.4f}" for name, cost in sorted(cost_by_purpose.items())) + ")"
