"""Crash safety: `kill -9` or Ctrl-C mid-run loses only the work in flight, and --resume finishes."""

from __future__ import annotations

import signal
import sqlite3
import time

from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent, start_agent

BUDGET = 30


def evaluated_count(db_path) -> int:
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(db_path, timeout=5) as db:
            statuses = "('correct','wrong','error','timeout','build_failed')"
            return db.execute(f"select count(*) from programs where status in {statuses}").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def start_and_interrupt(tmp_path, sig: int, after: int):
    # A slower evaluator so that the run is surely mid-way when the signal lands.
    task = copy_task(tmp_path, evaluator_prelude="import time; time.sleep(0.3)")
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    proc = start_agent("evolve", str(task), "--store", url, "--evaluations", str(BUDGET), "-q", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while evaluated_count(db) < after:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.1)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    return task, url, proc.returncode


def test_kill_9_mid_run_then_resume_finishes_the_budget_without_duplicates(tmp_path):
    task, url, code = start_and_interrupt(tmp_path, signal.SIGKILL, after=8)
    assert code == -signal.SIGKILL
    interrupted = only_run(url)
    # It never got to say otherwise: stored as running, read as crashed (its process is gone).
    assert interrupted.run.status == "crashed"
    with sqlite3.connect(tmp_path / "store.db") as db:
        assert db.execute("select status from runs").fetchone() == ("running",)
    assert 8 <= interrupted.evaluated < BUDGET

    proc = run_agent("evolve", str(task), "--store", url, "--resume", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    resumed = only_run(url)
    assert resumed.run.id == interrupted.run.id
    assert resumed.run.status == "finished"
    assert resumed.evaluated == BUDGET
    assert_lineage_is_whole(url, resumed.run.id)
    # Nothing that was evaluated before the kill was lost.
    assert resumed.counts.get("correct", 0) >= interrupted.counts.get("correct", 0)


def test_ctrl_c_stops_cleanly_and_the_run_can_be_continued(tmp_path):
    task, url, code = start_and_interrupt(tmp_path, signal.SIGINT, after=5)
    assert code == 130
    stopped = only_run(url)
    assert stopped.run.status == "stopped"
    assert stopped.run.ended_at is not None

    proc = run_agent("evolve", str(task), "--store", url, "--run", stopped.run.id[:8], "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    finished = only_run(url)
    assert finished.run.status == "finished" and finished.evaluated == BUDGET
    assert_lineage_is_whole(url, finished.run.id)


def test_resume_without_a_previous_run_is_a_one_line_error(tmp_path):
    task = copy_task(tmp_path)
    proc = run_agent("evolve", str(task), "--store", f"sqlite:///{tmp_path / 'empty.db'}", "--resume", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --resume: no run of task 'quadratic' in sqlite:///{tmp_path / 'empty.db'}"
    ]
    assert not (tmp_path / "empty.db").exists()  # looking for a run creates no store
