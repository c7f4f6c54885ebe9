"""bench/learning.py: its arms are valid task files, its summary is right, and a small run works end to end."""

from __future__ import annotations

import json

import pytest
import yaml

from agent.config import load_task
from bench.learning import ARMS, main, report, summarize, task_config


@pytest.mark.parametrize("arm", list(ARMS))
def test_every_arm_is_a_task_file_the_config_accepts(arm, tmp_path):
    (tmp_path / "initial.py").write_text("x = 1\n")
    (tmp_path / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 0.0}\n")
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(task_config(arm, 3, 40, 2)))
    task = load_task(path, {})
    parts = task.learning
    assert task.search.seed == 3 and task.budget.evaluations == 40 and len(task.llm.models) == 2
    assert task.llm.choice == {"ucb": "ucb", "thompson": "thompson", "all": "ucb"}.get(arm, "weights")
    assert parts.meta_prompts.enabled == (arm in ("meta_prompts", "all"))
    assert parts.plan.enabled == (arm in ("plan", "all"))
    assert parts.knowledge.enabled == (arm in ("knowledge", "all"))


def _row(arm: str, best: float, to_target: int | None = None) -> dict:
    return {"arm": arm, "seed": 0, "best": best, "to_target": to_target, "evaluated": 11, "improved_share": 0.5,
            "calls": 10, "llm_seconds": 2.0, "strong_share": 0.5, "plan_strong_share": None, "marked_share": None,
            "shown_knowledge": 0.0, "informed_share": 0.25}


def test_the_summary_gives_mean_spread_range_and_difference_from_the_baseline():
    rows = [_row("baseline", -4.0), _row("baseline", -2.0), _row("plan", -1.0, 30), _row("plan", 0.0, 20),
            _row("plan", -0.5, None)]
    arms = summarize(rows)
    assert arms["baseline"]["best_mean"] == pytest.approx(-3.0)
    assert arms["baseline"]["best_sd"] == pytest.approx(2 ** 0.5)
    plan = arms["plan"]
    assert plan["best_mean"] == pytest.approx(-0.5) and plan["best_sd"] == pytest.approx(0.5)
    assert (plan["best_min"], plan["best_max"]) == (-1.0, 0.0)
    assert plan["vs_baseline"] == pytest.approx(2.5)
    assert plan["vs_baseline_se"] == pytest.approx((0.25 / 3 + 2 / 2) ** 0.5)
    assert plan["reached"] == 2 and plan["to_target_median"] == 25
    assert plan["calls_per_evaluation"] == pytest.approx(1.0)
    table = report(arms, "python -m bench.learning", 1.0, 10, 1)
    assert "| plan | 3 | -0.50 ± 0.50 | [-1.00, 0.00] | +2.50 ± 1.04 | 2/3 (25) |" in table


def test_a_small_run_writes_knowledge_in_the_first_run_and_shows_it_in_the_second(tmp_path):
    out = tmp_path / "learning.md"
    main(["--arms", "baseline,knowledge", "--seeds", "1", "--evaluations", "8", "--workers", "1", "--out", str(out)])
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["command"] == ("python -m bench.learning --arms baseline,knowledge --seeds 1 --evaluations 8 "
                                f"--workers 1 --out {out}")
    baseline, knowledge = saved["runs"]
    assert baseline["arm"] == "baseline" and baseline["shown_knowledge"] == 0 and baseline["best"] > -18.2
    assert knowledge["first_run"]["knowledge_entries"] >= 1
    assert knowledge["shown_knowledge"] > 0
    assert "| knowledge | 1 |" in out.read_text()
