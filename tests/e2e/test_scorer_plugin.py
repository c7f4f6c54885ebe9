"""A task's scorer supplies the fitness when the evaluator returns no combined_score; a broken one is named."""

from __future__ import annotations

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent

# The quadratic task's evaluator, measuring instead of scoring: no combined_score.
MEASURING_EVALUATOR = """
import subprocess, sys

def evaluate(program_path):
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        return {"error": "program failed"}
    x = float(proc.stdout.strip().splitlines()[-1])
    return {"x": x, "distance": abs(x - 3.0), "note": f"X was {x}"}
"""


def scored_task(tmp_path, scorer: str):
    task = copy_task(tmp_path)
    (task.parent / "evaluator.py").write_text(MEASURING_EVALUATOR)
    (task.parent / "scorer.py").write_text(scorer)
    task.write_text(task.read_text() + "scorer: scorer.py:closeness\n")
    return task


def test_the_scorer_supplies_the_fitness_and_the_run_succeeds(tmp_path):
    task = scored_task(tmp_path, "def closeness(metrics):\n    return 10.0 - metrics['distance']\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "12", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 12
    with Store(url) as store:
        programs = [p for p in store.programs(summary.run.id) if p.status in Status.EVALUATED]
        best = store.best_programs(summary.run.id, 1)[0]
    assert all(p.status == Status.CORRECT for p in programs), [p.error for p in programs]
    assert all(p.fitness == 10.0 - p.metrics["distance"] for p in programs)
    assert all("combined_score" not in p.metrics for p in programs)
    assert programs[0].fitness == 3.0  # X = -4: 10 - 7
    assert best.fitness > programs[0].fitness  # the tuner moved X towards 3, judged by the scorer


def test_a_scorer_returning_something_unusable_is_named_in_the_one_line_error(tmp_path):
    task = scored_task(tmp_path, "def closeness(metrics):\n    return {'score': 10.0 - metrics['distance']}\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "12", "-q", cwd=tmp_path)
    expected = ("error: the evaluator failed on the initial program: scorer quadratic/scorer.py:closeness "
                "returned a mapping without 'fitness' (keys: score)")
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (1, [expected]), proc.stderr
    summary = only_run(url)
    assert summary.run.status == "failed" and summary.evaluated == 1


def test_a_scorer_raising_is_named_with_its_exception(tmp_path):
    task = scored_task(tmp_path, "def closeness(metrics):\n    return 10.0 - metrics['length']\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "12", "-q", cwd=tmp_path)
    expected = ("error: the evaluator failed on the initial program: scorer quadratic/scorer.py:closeness "
                "raised KeyError: 'length'")
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (1, [expected]), proc.stderr
