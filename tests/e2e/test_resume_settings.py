"""What a resume goes on with: the stored settings, named where the task file now differs,
the safe ones changed by the command line; and no "new best" below the stored best (items 12
and 13 of issue 11)."""

from __future__ import annotations

import re
import sqlite3

from tests.e2e.helpers import copy_task, only_run, run_agent, start_agent
from tests.e2e.test_run_states import SLOW, wait_for


def stored_setting(db, path: str):
    with sqlite3.connect(db) as raw:
        return raw.execute(f"select json_extract(config, '$.{path}') from runs").fetchone()[0]


def resume_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("resume: ")]


def test_a_resume_names_the_stored_settings_it_keeps_and_applies_safe_options(tmp_path):
    task = copy_task(tmp_path)
    folder = task.parent
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    first = run_agent("evolve", str(task), "--store", url, "--evaluations", "6", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr

    # The task file changes: a bigger budget, a longer timeout, and another evaluator that
    # would score every program 1000 (the quadratic's scores are <= 0).
    evaluator2 = folder / "evaluator2.py"
    evaluator2.write_text("def evaluate(program_path):\n    return {'combined_score': 1000.0}\n")
    text = task.read_text()
    text = text.replace("evaluations: 24", "evaluations: 30").replace("timeout_seconds: 20", "timeout_seconds: 25")
    task.write_text(text.replace("evaluator: evaluator.py", "evaluator: evaluator2.py"))

    resumed = run_agent("evolve", str(task), "--store", url, "--resume", "--workers", "1", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resume_lines(resumed.stderr) == [
        "resume: using the stored budget.evaluations = 6 (the task file now says 30; pass --evaluations to change it)",
        "resume: using the stored evaluate.timeout_seconds = 20.0 (the task file now says 25.0; "
        "a run keeps it: start a new run to use the file's)",
        "resume: evaluate.workers = 1 (from --workers; the run had 2)",
        f'resume: using the stored evaluator = "{folder / "evaluator.py"}" (the task file now says '
        f'"{evaluator2}"; a run keeps it: start a new run to use the file\'s)',
    ]
    assert stored_setting(db, "evaluate.workers") == 1  # the next resume starts from it
    assert only_run(url).evaluated == 6  # the stored budget was already spent

    more = run_agent("evolve", str(task), "--store", url, "--resume", "--evaluations", "9", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "resume: budget.evaluations = 9 (from --evaluations; the run had 6)" in resume_lines(more.stderr)
    done = only_run(url)
    assert done.evaluated == 9 and stored_setting(db, "budget.evaluations") == 9
    assert done.best_fitness <= 0  # still judged by the stored evaluator, not evaluator2.py

    again = run_agent("evolve", str(task), "--store", url, "--resume", "-q", cwd=tmp_path)
    assert again.returncode == 0 and only_run(url).evaluated == 9


def test_after_a_resume_only_scores_above_the_stored_best_are_announced(tmp_path):
    task = copy_task(tmp_path, evaluator_prelude=SLOW)
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    proc = start_agent("evolve", str(task), "--store", url, "--evaluations", "40", "-q", cwd=tmp_path)
    wait_for(db, proc, 8)
    proc.kill()
    proc.communicate(timeout=60)
    with sqlite3.connect(db) as raw:
        stored_best = raw.execute("select max(fitness) from programs where status = 'correct'").fetchone()[0]
        pending = raw.execute("select count(*) from programs where status = 'pending'").fetchone()[0]
    assert stored_best is not None and pending > 0

    resumed = run_agent("evolve", str(task), "--store", url, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    announced = [float(x) for x in re.findall(r"^new best (\S+) ", resumed.stderr, flags=re.M)]
    assert all(score > stored_best for score in announced), (stored_best, announced)
    assert "re-evaluating" in resumed.stderr  # the programs left in flight were evaluated first
