"""The strategy benchmark's parts: its tasks, the simulated proposer, the loop, the statistics."""

from __future__ import annotations

import random

import pytest

from agent.config import SearchConfig
from archives.registry import make_strategy
from bench.sim_search import TASKS, SimulatedProposer, initial_program, parse, run_search, true_value
from bench.strategies import VARIANTS, mann_whitney_greater, median_interval, render_report, run_one


def test_tasks_have_their_optima_where_they_say():
    smooth, deceptive = TASKS["smooth"], TASKS["deceptive"]
    assert smooth.f([1.7, -2.3, 0.9, 2.8, -1.1, 0.4]) == 0.0
    assert deceptive.f([1.0] * 6) == 1.0 and deceptive.f([0.0] * 6) == pytest.approx(0.8)
    assert deceptive.f([0.6] * 6) == pytest.approx(0.0)  # the valley between the peaks
    assert TASKS["rugged"].f([1.3, -0.7, 2.2, -1.6, 0.6, 1.9]) == pytest.approx(0.0)
    assert TASKS["rugged"].f([2.3, -0.7, 2.2, -1.6, 0.6, 1.9]) == pytest.approx(-1.0)  # a local optimum
    assert true_value(deceptive, initial_program(deceptive)) == pytest.approx(0.8 * (1 - 0.2 / 0.6))


def test_the_simulated_proposer_edits_the_parent_it_is_given_reproducibly():
    task = TASKS["smooth"]
    parent = initial_program(task)
    a, b = SimulatedProposer(task, random.Random(5)), SimulatedProposer(task, random.Random(5))
    assert [a.propose(parent) for _ in range(20)] == [b.propose(parent) for _ in range(20)]
    proposer = SimulatedProposer(task, random.Random(1))
    children = [proposer.propose(parent) for _ in range(300)]
    parsed = [parse(c) for c in children]
    broken = sum(p is None for p in parsed)
    assert 5 <= broken <= 30  # about one in twenty is a broken program
    assert all(c.startswith("# EVOLVE-BLOCK-START\nx = [0.0] * 6\n") for c in children)
    kept = [len(p) for p in parsed if p is not None]
    assert min(kept) >= 5 and max(kept) >= 7  # terms are deleted and added
    assert proposer.propose(children[parsed.index(None)]) != children[parsed.index(None)]  # a broken parent is repaired


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_spends_exactly_the_budget(variant):
    row = run_one((variant, "noisy", 3, 40))
    assert row["evaluations"] == 40 and row["best_true"] > -100
    assert (row["repeats"] > 0) == (variant == "pq")


def test_search_loop_rejects_duplicates_before_evaluation_and_is_reproducible():
    runs = [run_search(make_strategy(SearchConfig(strategy="best_of_n"), random.Random(0)), TASKS["smooth"], 0, 60)
            for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].rejected > 0 and runs[0].evaluations == 60


def test_median_interval_and_mann_whitney():
    values = list(range(1, 16))
    lo, hi = median_interval(values)
    assert lo <= 8 <= hi and (lo, hi) == (4, 12)
    assert mann_whitney_greater([10, 11, 12, 13, 14, 15], [1, 2, 3, 4, 5, 6]) < 0.01
    assert mann_whitney_greater([1, 2, 3, 4, 5, 6], [10, 11, 12, 13, 14, 15]) > 0.99
    assert 0.3 < mann_whitney_greater([1, 2, 3], [1, 2, 3]) < 0.7


def test_report_is_a_table_per_task():
    rows = [run_one((v, t, s, 20)) for v in VARIANTS for t in ("smooth",) for s in range(6)]
    report = render_report(rows, 20, 6, 1.0)
    assert report.startswith("# Strategy benchmark") and "## smooth" in report
    assert all(f"| {v} |" in report for v in VARIANTS)
