"""`--resume` re-evaluates the programs left pending at most `--workers` at a time."""

from __future__ import annotations

import uuid

from archives.records import Program, Status
from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent

# The quadratic task's evaluator, reporting when it ran (its clock is the host's: the sandbox
# shares the kernel) as metrics, so the test reads from the store how many ran at once.
TIMED_EVALUATOR = """
import subprocess, sys, time

def evaluate(program_path):
    started = time.time()
    time.sleep(1.5)
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=10)
    x = float(proc.stdout.strip().splitlines()[-1])
    return {"combined_score": -((x - 3.0) ** 2), "x": x, "started": started, "ended": time.time()}
"""

PENDING = 5


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one moment (an end before a start at the same instant)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_most_at_once_counts_overlaps():
    assert most_at_once([(0, 2), (1, 3), (2, 4)]) == 2
    assert most_at_once([(0, 5), (1, 2), (1.5, 3)]) == 3
    assert most_at_once([(0, 1), (1, 2)]) == 1


def test_resume_evaluates_pending_programs_no_more_than_workers_at_once(tmp_path):
    task = copy_task(tmp_path)
    (task.parent / "evaluator.py").write_text(TIMED_EVALUATOR)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = run_agent("evolve", str(task), "--store", url, "--evaluations", "1", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run = only_run(url).run
    # Programs left pending, as a killed session leaves them (stored before being evaluated).
    with Store(url) as store:
        (initial,) = store.programs(run.id)
        for k in range(PENDING):
            source = initial.source.replace("X = -4.0", f"X = {k}.5")
            store.add_program(Program(id=uuid.uuid4().hex, run_id=run.id, source=source, parent_id=initial.id,
                                      generation=1, proposer="tuner"))

    resumed = run_agent("evolve", str(task), "--store", url, "--resume", "--workers", "2",
                        "--evaluations", str(1 + PENDING), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"re-evaluating {PENDING} program(s)" in resumed.stderr
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 1 + PENDING
    assert_lineage_is_whole(url, run.id)
    with Store(url) as store:
        children = [p for p in store.programs(run.id) if p.generation == 1]
    assert len(children) == PENDING and all(p.status == Status.CORRECT for p in children)
    at_once = most_at_once([(p.metrics["started"], p.metrics["ended"]) for p in children])
    assert 1 <= at_once <= 2, at_once
