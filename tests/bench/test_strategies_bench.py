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
    assert (row["repeats"] > 0) == (VARIANTS[variant]["strategy"] == "pq")


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


def test_report_is_a_table_per_task_with_the_command_and_runs_beyond_the_target():
    rows = [run_one((v, t, s, 20)) for v in ("best_of_n", "greedy", "pq") for t in ("smooth",) for s in range(6)]
    rows[0]["best_true"] = 1.0  # pretend one best_of_n run reached the target
    report = render_report(rows, "python -m bench.strategies --seeds 6", 1.0)
    assert report.startswith("# Strategy benchmark") and "## smooth" in report
    assert "`python -m bench.strategies --seeds 6` (1 s on this machine, 6 seeds)" in report
    assert all(f"| {v} |" in report for v in ("best_of_n", "greedy", "pq"))
    assert "| best_of_n | -" in report and " | 1/6 | " in report


def test_tasks_report_their_vector_as_metrics_unless_they_are_code_only():
    from bench.sim_search import evaluate_with_metrics

    source = initial_program(TASKS["deceptive"])
    status, fitness, _, metrics = evaluate_with_metrics(TASKS["deceptive"], source, random.Random(0))
    assert status == "correct" and metrics == {f"x{i}": pytest.approx(0.2) for i in range(6)}
    assert evaluate_with_metrics(TASKS["deceptive_code"], source, random.Random(0))[3] == {}
    assert evaluate_with_metrics(TASKS["deceptive_code"], source, random.Random(0))[1] == fitness


def test_the_default_pq_leaves_the_deceptive_false_peak_where_greedy_stays():
    """One seed each, 1000 evaluations: a regression guard for issue 13, not the benchmark."""
    greedy = run_one(("greedy", "deceptive", 0, 1000))
    pq = run_one(("pq", "deceptive", 0, 1000))
    assert greedy["best_true"] <= 0.8 + 1e-9 < TASKS["deceptive"].target <= pq["best_true"]


def test_the_evolve_benchmarks_llm_edits_the_parent_shown_in_the_prompt():
    from bench.strategies_evolve import MAIN, block_of, responder

    task = TASKS["deceptive"]
    parent = initial_program(task).replace("x[2] += 0.200", "x[2] += 0.950")
    prompt = f"# Task: deceptive\n\n# Current program\nFitness: 0.6\n\n```python\n{parent}{MAIN}```\n"
    reply = responder(0)({"messages": [{"role": "user", "content": prompt}]})
    child = block_of(reply.text)
    assert child is not None and child != parent and reply.text.count("```") == 2
    assert MAIN in reply.text
    expected = SimulatedProposer(task, random.Random("proposer:evolve:0")).propose(parent)
    assert child == expected.replace(" =+ ", " += += ")  # one edit of the shown parent, not of the initial program


def test_the_evolve_benchmark_scores_what_a_block_builds_and_broken_blocks_fail():
    from bench.strategies_evolve import run_value

    task = TASKS["deceptive"]
    assert run_value(initial_program(task)) == pytest.approx(0.8 * (1 - 0.2 / 0.6))
    broken = initial_program(task).replace("# EVOLVE-BLOCK-END", "x[1] += += 0.5\n# EVOLVE-BLOCK-END")
    assert run_value(broken) is None


def test_main_writes_the_report_and_its_json_and_can_render_it_again(tmp_path):
    import json

    from bench.strategies import main

    out = tmp_path / "s.md"
    main(["--seeds", "6", "--budget", "20", "--jobs", "1", "--tasks", "smooth", "--variants", "pq", "--out", str(out)])
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["command"].startswith("python -m bench.strategies --seeds 6")
    assert len(saved["rows"]) == 3 * 6 and {r["variant"] for r in saved["rows"]} == {"best_of_n", "greedy", "pq"}
    first = out.read_text()
    again = tmp_path / "again.md"
    main(["--render", str(out.with_suffix(".json")), "--out", str(again)])
    assert again.read_text().splitlines()[3:] == first.splitlines()[3:]  # line 3 holds the wall time
    assert "## The default (`pq`) against `greedy`" in first
