"""Stores that cannot be written, do not exist, or are damaged: one line, never a hang, never a
new empty store, never a bare 500 (items 10 and 12 of issue 11)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.helpers import copy_task, only_run, run_agent, start_agent
from tests.e2e.test_run_states import SLOW, evaluated_count, stored_run, wait_for
from tests.viewer.conftest import ViewerProcess

STOP_WITHIN = 60  # seconds from the fault to the exit: generous for a loaded machine (it takes ~1 s)


def start_long_run(tmp_path: Path) -> tuple[Path, subprocess.Popen]:
    task = copy_task(tmp_path, evaluator_prelude=SLOW)
    db = tmp_path / "store.db"
    proc = start_agent("evolve", str(task), "--store", f"sqlite:///{db}", "--evaluations", "500", "-q", cwd=tmp_path)
    wait_for(db, proc, 3)
    return db, proc


def exit_after_fault(proc: subprocess.Popen) -> tuple[str, float]:
    """The run's stderr and the seconds it took to exit."""
    faulted = time.monotonic()
    try:
        _, stderr = proc.communicate(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run did not stop within {STOP_WITHIN} s of the fault: it hangs")
    return stderr, time.monotonic() - faulted


def test_a_store_refusing_writes_mid_run_stops_it_with_one_line(tmp_path):
    db, proc = start_long_run(tmp_path)
    before = evaluated_count(db)
    with sqlite3.connect(db, timeout=30) as raw:  # every later evaluation fails to be recorded
        raw.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON evaluations "
            "BEGIN SELECT RAISE(ABORT, 'no space left on device (planted by the test)'); END"
        )
    stderr, _ = exit_after_fault(proc)
    assert proc.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: cannot record the evaluation of program ")
    assert f"(sqlite:///{db}): IntegrityError: no space left on device (planted by the test)" in lines[0]
    _, status, notes, owner = stored_run(db)
    assert status == "failed" and "no space left on device" in notes and owner is None
    assert evaluated_count(db) >= before  # nothing already stored was lost


def _chattr(flag: str, *paths: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True).returncode == 0


def test_an_immutable_store_file_stops_the_run_and_nothing_is_lost(tmp_path):
    db, proc = start_long_run(tmp_path)
    files = [db, db.with_name("store.db-wal")]  # not -shm: SQLite maps it, and would fault
    if not _chattr("+i", *files):
        proc.kill()
        proc.communicate()
        pytest.skip("chattr +i is not available here (needs root and a file system with the flag)")
    try:
        before = evaluated_count(db)
        stderr, _ = exit_after_fault(proc)
    finally:
        _chattr("-i", *files)
    assert proc.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and f"(sqlite:///{db}): OperationalError: " in lines[0], stderr
    assert "SQLITE_IOERR" in lines[0] or "readonly" in lines[0]
    run = only_run(f"sqlite:///{db}")
    assert run.run.status == "crashed"  # it could not write its status; its process is gone
    assert run.evaluated >= before


def test_a_full_disk_stops_the_run_with_one_line(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        task = copy_task(tmp_path)
        url = f"sqlite:///{small / 'store.db'}"
        proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "5000", "-q", cwd=tmp_path, timeout=600)
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"({url}): OperationalError: database or disk is full (SQLITE_FULL)" in lines[0]
        assert evaluated_count(small / "store.db") > 1  # what fitted is kept
    finally:
        subprocess.run(["umount", "--lazy", str(small)], capture_output=True)  # a sandbox may still see it


def test_a_deleted_store_stops_the_run_within_seconds(tmp_path):
    db, proc = start_long_run(tmp_path)
    for path in tmp_path.glob("store.db*"):
        path.unlink()
    stderr, _ = exit_after_fault(proc)
    assert proc.returncode == 1
    assert stderr.strip().splitlines() == [f"error: the store sqlite:///{db} is gone: No such file or directory ({db})"]


def test_a_mistyped_store_is_one_line_and_creates_nothing(tmp_path):
    typo = tmp_path / "sotre.db"
    url = f"sqlite:///{typo}"
    for args in (("runs", "--store", url), ("show", "abcd", "--store", url), ("export", "abcd", "--store", url)):
        proc = run_agent(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.strip().splitlines() == [f"error: no store at {typo} (no such file)"]
    task = copy_task(tmp_path)
    resumed = run_agent("evolve", str(task), "--store", url, "--run", "abcd", cwd=tmp_path)
    assert resumed.returncode == 2 and resumed.stderr.strip() == f"error: no run 'abcd' in {url} (no such store)"
    assert not typo.exists() and not list(tmp_path.glob("sotre.db*"))


@pytest.fixture
def finished_store(tmp_path: Path) -> tuple[str, Path]:
    """A finished 6-evaluation run's id and its store, checkpointed into the one file."""
    task = copy_task(tmp_path)
    db = tmp_path / "store.db"
    proc = run_agent("evolve", str(task), "--store", f"sqlite:///{db}", "--evaluations", "6", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        run_id = raw.execute("select id from runs").fetchone()[0]
    return run_id, db


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_invalid_json_in_a_row_is_a_readable_error_in_view_and_report(finished_store, tmp_path):
    run_id, db = finished_store
    with sqlite3.connect(db) as raw:
        best = raw.execute("select id from programs where status = 'correct' order by fitness desc").fetchone()[0]
        raw.execute("update programs set metrics = '{\"speedup\": 1.' where id = ?", (best,))
    url = f"sqlite:///{db}"
    report = run_agent("report", run_id[:8], "--db", url, "--out", str(tmp_path / "r.html"), cwd=tmp_path)
    assert report.returncode == 2
    assert len(report.stderr.strip().splitlines()) == 1 and "the store is damaged" in report.stderr
    server = ViewerProcess(url, tmp_path)
    try:
        status, runs = get_json(server.url + "api/runs")
        assert status == 200 and runs["runs"][0]["id"] == run_id  # what can be read still is
        for path in (f"api/runs/{run_id}", f"api/runs/{run_id}/programs/{best}"):
            status, body = get_json(server.url + path)
            assert status == 500 and list(body) == ["error"], (path, body)
            assert "the store is damaged" in body["error"] and "\n" not in body["error"]
    finally:
        server.stop()
    _, stderr = server.proc.communicate(timeout=30)
    assert "Traceback" not in stderr


def test_garbage_over_a_table_in_the_middle_of_the_file_is_a_readable_error(finished_store, tmp_path):
    run_id, db = finished_store
    with sqlite3.connect(db) as raw:
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        root = raw.execute("select rootpage from sqlite_master where name = 'programs'").fetchone()[0]
    with db.open("r+b") as fh:  # the programs table's first page: the schema still reads
        fh.seek((root - 1) * page_size)
        fh.write(os.urandom(page_size))
    url = f"sqlite:///{db}"
    report = run_agent("report", run_id[:8], "--db", url, "--out", str(tmp_path / "r.html"), cwd=tmp_path)
    assert report.returncode == 2 and len(report.stderr.strip().splitlines()) == 1
    assert "database disk image is malformed" in report.stderr, report.stderr
    show = run_agent("show", run_id[:8], "--store", url, cwd=tmp_path)
    assert show.returncode == 2 and len(show.stderr.strip().splitlines()) == 1
    server = ViewerProcess(url, tmp_path)
    try:
        status, body = get_json(server.url + "api/runs")
        assert status == 500 and list(body) == ["error"] and "malformed" in body["error"], body
    finally:
        server.stop()
    _, stderr = server.proc.communicate(timeout=30)
    assert "Traceback" not in stderr


def test_a_store_damaged_beyond_opening_is_one_line_for_view(finished_store, tmp_path):
    _, db = finished_store
    with db.open("r+b") as fh:  # every page after the first
        fh.seek(4096)
        fh.write(os.urandom(db.stat().st_size - 4096))
    view = run_agent("view", "--db", f"sqlite:///{db}", "--port", "0", cwd=tmp_path)
    assert view.returncode == 2
    assert view.stderr.strip().splitlines() == [view.stderr.strip()] and "malformed" in view.stderr
