"""The end-of-run summary shows the task's summary_metrics for the initial and the best program,
and the proposer's calls by outcome (duplicates and unapplied edits apart)."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from agent.display import summary_table
from agent.spend import ModelOutcomes, OUTCOMES, Spend, SpendReport
from archives.records import Program, Status


def _program(pid: str, fitness: float | None, metrics: dict[str, float], status: str = Status.CORRECT) -> Program:
    return Program(id=pid, run_id="r" * 32, source="x = 1\n", status=status, fitness=fitness, metrics=metrics)


def _rendered(config: dict, initial: Program | None, best: Program | None, spend: SpendReport | None = None) -> str:
    outcome = SimpleNamespace(
        run=SimpleNamespace(id="a" * 32, task_name="demo", config=config),
        status="finished",
        stop_reason="budget: evaluations",
        summary=SimpleNamespace(evaluated=2, counts={"correct": 2}, cost=0.0, llm_calls=0, tokens=0),
        initial=initial,
        best=best,
        seconds=1.0,
        spend=spend,
    )
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(summary_table(outcome))
    return console.export_text()


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if f" {name} " in line)


def test_named_metrics_are_shown_for_the_initial_and_the_best_program() -> None:
    initial = _program("i" * 32, 1.0, {"mean_length": 8664.57, "cpu_s": 0.35})
    best = _program("b" * 32, 1.2, {"mean_length": 7019.24, "cpu_s": 0.3})
    text = _rendered({"summary_metrics": ["mean_length"]}, initial, best)
    assert "initial 8664.57 -> best 7019.24 (-19.0%)" in _row(text, "mean_length")
    assert "cpu_s" not in text  # only the metrics the task names


def test_a_missing_metric_or_a_failed_initial_program_shows_a_dash() -> None:
    initial = _program("i" * 32, None, {}, status=Status.WRONG)
    best = _program("b" * 32, 1.2, {"sum_radii": 2.2})
    text = _rendered({"summary_metrics": ["sum_radii", "min_radius"]}, initial, best)
    assert "initial - -> best 2.2" in _row(text, "sum_radii")
    assert "%" not in _row(text, "sum_radii")
    assert "initial - -> best -" in _row(text, "min_radius")


def test_no_summary_metrics_no_extra_rows() -> None:
    initial = _program("i" * 32, 1.0, {"mean_length": 8664.57})
    text = _rendered({}, initial, initial)
    assert "mean_length" not in text
    assert "best fitness" in text


def test_quiet_progress_still_prints_warnings_but_not_other_messages(capsys) -> None:
    from agent.display import ProgressReporter

    with ProgressReporter(10, quiet=True) as reporter:
        reporter.message("sandbox: process")
        reporter.message("warning: the Docker daemon stopped answering; evaluating on the process backend")
    err = capsys.readouterr().err
    assert "warning: the Docker daemon stopped answering" in err
    assert "sandbox: process" not in err


def test_the_calls_by_outcome_count_duplicates_and_unapplied_edits_apart() -> None:
    initial = _program("i" * 32, 1.0, {})
    outcomes = {o: Spend() for o in OUTCOMES} | {
        "evaluated": Spend(5, 0.05), "duplicate": Spend(3, 0.03), "unapplied": Spend(2, 0.02), "summary": Spend(1, 0.01),
    }  # fmt: skip
    spend = SpendReport((ModelOutcomes("openai/gpt-4o-mini", outcomes),))
    row = _row(_rendered({}, initial, initial, spend), "calls by outcome")
    assert ("evaluated 5 ($0.0500), duplicate 3 ($0.0300), unapplied 2 ($0.0200), summary 1 ($0.0100), "
            "nothing 0 ($0.0000)") in row
    assert "calls by outcome" not in _rendered({}, initial, initial, SpendReport(()))  # the tuner proposed: no call
