"""A run's status is true whatever ends it: kill -9, SIGTERM, a double Ctrl-C, a crash of ours,
a refused task; and one controller at a time runs a run (items 8 and 9 of issue 11)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent, start_agent

SLOW = "import time; time.sleep(0.3)"  # so that a run is surely mid-way when a signal lands


def evaluated_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as raw:
            statuses = "('correct','wrong','error','timeout','build_failed')"
            return raw.execute(f"select count(*) from programs where status in {statuses}").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def stored_run(db: Path) -> tuple[str, str, str | None, str | None]:
    """(id, status, notes, owner) as stored, not as read through the lease."""
    with sqlite3.connect(db, timeout=5) as raw:
        return raw.execute("select id, status, notes, owner from runs").fetchone()


def start_run(tmp_path: Path, *args: str, budget: int = 200) -> tuple[Path, Path, subprocess.Popen]:
    task = copy_task(tmp_path, evaluator_prelude=SLOW)
    db = tmp_path / "store.db"
    proc = start_agent("evolve", str(task), "--store", f"sqlite:///{db}", "--evaluations", str(budget), *args, cwd=tmp_path)
    return task, db, proc


def wait_for(db: Path, proc: subprocess.Popen, evaluated: int) -> None:
    deadline = time.monotonic() + 180
    while evaluated_count(db) < evaluated:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.1)


def test_kill_9_leaves_a_run_that_every_reader_shows_crashed(tmp_path):
    task, db, proc = start_run(tmp_path, "-q")
    wait_for(db, proc, 3)
    proc.kill()
    proc.communicate(timeout=60)
    run_id, status, _, owner = stored_run(db)
    assert status == "running" and owner is not None  # it never got to say otherwise
    url = f"sqlite:///{db}"

    runs = run_agent("runs", "--store", url, cwd=tmp_path)
    assert runs.returncode == 0 and "crashed" in runs.stdout and "running" not in runs.stdout
    show = run_agent("show", run_id[:8], "--store", url, cwd=tmp_path)
    assert show.returncode == 0 and "crashed" in show.stdout and "no sign of life" in show.stdout
    report = run_agent("report", run_id[:8], "--db", url, "--out", str(tmp_path / "r.html"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert '"status":"crashed"' in (tmp_path / "r.html").read_text()


def test_sigterm_stops_like_ctrl_c_and_the_run_can_be_continued(tmp_path):
    task, db, proc = start_run(tmp_path, "-q", budget=12)
    wait_for(db, proc, 3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    run_id, status, notes, owner = stored_run(db)
    assert (status, notes, owner) == ("stopped", "stopped by SIGTERM", None)
    assert f"stopped; continue with: agent evolve {task} --run {run_id[:8]} --store sqlite:///{db}" in stderr
    assert "Traceback" not in stderr

    again = run_agent("evolve", str(task), "--store", f"sqlite:///{db}", "--run", run_id[:8], "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    finished = only_run(f"sqlite:///{db}")
    assert finished.run.status == "finished" and finished.evaluated == 12
    assert_lineage_is_whole(f"sqlite:///{db}", run_id)


def test_a_second_ctrl_c_during_the_shutdown_still_records_the_stop(tmp_path):
    task, db, proc = start_run(tmp_path, "-q")
    wait_for(db, proc, 3)
    proc.send_signal(signal.SIGINT)
    for pause in (0.05, 0.2, 0.3):
        time.sleep(pause)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    run_id, status, notes, owner = stored_run(db)
    assert (status, notes, owner) == ("stopped", "stopped by Ctrl-C", None)
    assert f"continue with: agent evolve {task} --run {run_id[:8]}" in stderr
    assert "Traceback" not in stderr


def test_a_crash_of_ours_is_stored_as_crashed_with_its_cause(tmp_path):
    task = copy_task(tmp_path)
    db = tmp_path / "store.db"
    proc = run_agent(
        "evolve", str(task), "--store", f"sqlite:///{db}", "--strategy", "tests.e2e.crashing_strategy:CrashOnFourthTell",
        "-q", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    run_id, status, notes, owner = stored_run(db)
    cause = "RuntimeError: planted strategy bug: tell() after three programs"
    assert (status, notes, owner) == ("crashed", cause, None)
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: run {run_id[:8]} crashed: {cause}")
    assert "Traceback" in proc.stderr  # a bug of ours is not swallowed


def test_a_refused_task_creates_no_run(tmp_path, fake_llm):
    task = copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    refused = run_agent("evolve", str(task), "--store", url, "--strategy", "no_such_strategy", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().startswith("error: search.strategy: unknown strategy")
    # The preflight finds no server behind --api-base: exit 1, and still no run.
    unreachable = run_agent(
        "evolve", str(task), "--store", url, "--model", "openai/fake", "--api-base", "http://127.0.0.1:9/v1", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert unreachable.returncode == 1, unreachable.stderr
    assert unreachable.stderr.strip().splitlines()[-1].startswith("error: LLM preflight failed")
    listed = run_agent("runs", "--store", url, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.startswith("no runs yet"), listed.stdout


def test_two_resumes_at_once_one_runs_and_the_other_is_refused(tmp_path):
    budget = 16
    task, db, proc = start_run(tmp_path, "-q", budget=budget)
    wait_for(db, proc, 3)
    proc.kill()
    proc.communicate(timeout=60)
    url = f"sqlite:///{db}"
    both = [start_agent("evolve", str(task), "--store", url, "--resume", "-q", cwd=tmp_path) for _ in range(2)]
    outcomes = [(p.wait(timeout=300), p.communicate()[1]) for p in both]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    refused = next(err for code, err in outcomes if code == 2)
    assert len(refused.strip().splitlines()) == 1
    assert "is already running (controller " in refused and "s ago)" in refused
    finished = only_run(url)
    assert finished.run.status == "finished" and finished.evaluated == budget  # not evaluated twice
    assert_lineage_is_whole(url, finished.run.id)


def test_a_resume_while_the_run_is_live_is_refused_at_once(tmp_path):
    task, db, proc = start_run(tmp_path, "-q")
    try:
        wait_for(db, proc, 2)
        started = time.monotonic()
        second = run_agent("evolve", str(task), "--store", f"sqlite:///{db}", "--resume", "-q", cwd=tmp_path)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [second.stderr.strip()]
        assert f":{proc.pid}, last seen " in second.stderr
        assert time.monotonic() - started < 60
        assert proc.poll() is None  # the first one goes on
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    assert stored_run(db)[1] == "stopped"
