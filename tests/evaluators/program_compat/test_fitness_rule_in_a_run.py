"""A run whose evaluator returns no combined_score: the fitness is OpenEvolve's mean of the
metrics, the run says so once, and every stored program's feedback says which metrics."""

from __future__ import annotations

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent

# The quadratic task's evaluator, as an OpenEvolve user might write it: no combined_score.
EVALUATOR = """
import subprocess, sys
from openevolve.evaluation_result import EvaluationResult

def evaluate(program_path):
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=10)
    x = float(proc.stdout.strip().splitlines()[-1])
    closeness = 10.0 - abs(x - 3.0)
    return EvaluationResult(metrics={"closeness": closeness, "bonus": 1.0, "runs": True},
                            artifacts={"trace": {"x": x}})
"""

RULE = ("fitness: combined_score; without one, the mean of the numeric metrics (OpenEvolve's rule; "
        "set evaluate.fitness_metric to name one)")


def test_a_run_without_combined_score_uses_and_names_the_mean_of_the_metrics(tmp_path):
    task = copy_task(tmp_path)
    (task.parent / "evaluator.py").write_text(EVALUATOR)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "6", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout + proc.stderr).count(RULE) == 1, proc.stderr
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 6
    with Store(url) as store:
        programs = [p for p in store.programs(summary.run.id) if p.status in Status.EVALUATED]
    assert all(p.status == Status.CORRECT for p in programs), [p.error for p in programs]
    for p in programs:
        assert p.fitness == (p.metrics["closeness"] + 1.0) / 2
        assert "fitness: the mean of closeness, bonus (no combined_score; OpenEvolve's rule)" in p.feedback
    assert programs[0].fitness == 2.0  # X = -4: closeness 3, bonus 1
