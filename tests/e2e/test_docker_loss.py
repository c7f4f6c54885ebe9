"""The Docker daemon going away mid-run, against a real daemon of the test's own (never the
machine's shared one): the evaluations in flight stay pending and are evaluated again exactly
once; with `sandbox.backend: docker` the run stops with one line and resumes once the daemon is
back; with `auto` it says loudly that it moves to the process backend and finishes. The store
records which backend evaluated each program."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent, start_agent
from tests.sandbox.private_dockerd import PrivateDockerd, private_dockerd

STOPS = "; sandbox.backend is docker, so the run stops (the evaluations in flight stay pending): " \
        "once it answers again, continue with --resume"


@pytest.fixture
def dockerd() -> Iterator[PrivateDockerd]:
    """A Docker daemon of this test's own, which it may stop (never the machine's shared one)."""
    with private_dockerd() as daemon:
        yield daemon


def docker_task(tmp_path: Path, backend: str, sleep: float) -> Path:
    """The quadratic task with a slow evaluator on the given sandbox backend."""
    task = copy_task(tmp_path, evaluator_prelude=f"import time; time.sleep({sleep})")
    with task.open("a") as f:
        f.write(f"sandbox:\n  backend: {backend}\n")
    return task


def evaluated(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from programs where status != 'pending'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def start_then_lose_the_daemon(tmp_path: Path, task: Path, daemon: PrivateDockerd, sig: int, budget: int):
    """Start a run, stop the daemon with `sig` once 3 programs are evaluated; (process, url)."""
    db = tmp_path / "store.db"
    proc = start_agent("evolve", str(task), "--store", f"sqlite:///{db}", "--evaluations", str(budget), cwd=tmp_path)
    deadline = time.monotonic() + 180
    while evaluated(db) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.1)
    daemon.stop(sig)
    return proc, f"sqlite:///{db}"


def programs(url: str, run_id: str):
    with Store(url) as store:
        return store.programs(run_id)


def attempts_per_program(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [n for (n,) in conn.execute("select count(distinct attempt) from evaluations group by program_id")]


def flat(text: str) -> str:
    """Console output with the console's line wrapping undone."""
    return " ".join(text.split())


def test_docker_backend_stops_in_one_line_keeps_the_work_in_flight_and_resumes_once_the_daemon_is_back(
    tmp_path, dockerd, monkeypatch
):
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    budget = 30  # the daemon takes about 10 s to stop: evaluations go on meanwhile
    task = docker_task(tmp_path, "docker", sleep=1.5)
    proc, url = start_then_lose_the_daemon(tmp_path, task, dockerd, signal.SIGTERM, budget)
    _, stderr = proc.communicate(timeout=240)

    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors == stderr.strip().splitlines()[-1:], stderr
    assert errors[0].startswith(f"error: the Docker daemon stopped answering ({dockerd.host}: ")
    assert errors[0].endswith(STOPS)
    failed = only_run(url)
    assert failed.run.status == "failed" and failed.run.notes == errors[0].removeprefix("error: ")
    stored = programs(url, failed.run.id)
    pending = [p for p in stored if p.status == "pending"]
    done = [p for p in stored if p.status != "pending"]
    assert pending, "the evaluations in flight were not left pending"
    assert 3 <= len(done) < budget
    assert {p.status for p in done} == {"correct"}  # no candidate was blamed for the daemon
    assert {p.backend for p in done} == {"docker"} and {p.backend for p in pending} == {None}

    # Resuming while no daemon answers: refused in one line, nothing evaluated, the run not taken.
    refused = run_agent("evolve", str(task), "--store", url, "--resume", cwd=tmp_path)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], refused.stderr
    assert lines[-1].startswith("error: sandbox.backend docker: no Docker daemon answered"), refused.stderr
    again = only_run(url)
    assert again.run.status == "failed" and again.evaluated == failed.evaluated

    dockerd.start()
    resumed = run_agent("evolve", str(task), "--store", url, "--resume", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    finished = only_run(url)
    assert finished.run.status == "finished" and finished.evaluated == budget
    assert_lineage_is_whole(url, finished.run.id)
    assert {p.backend for p in programs(url, finished.run.id)} == {"docker"}
    assert set(attempts_per_program(tmp_path / "store.db")) == {1}  # the pending ones: once, after the resume


def test_auto_backend_moves_to_the_process_backend_loudly_and_finishes(tmp_path, dockerd, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    budget = 16
    task = docker_task(tmp_path, "auto", sleep=1)
    proc, url = start_then_lose_the_daemon(tmp_path, task, dockerd, signal.SIGKILL, budget)
    _, stderr = proc.communicate(timeout=240)

    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert flat(stderr).count("warning: the Docker daemon stopped answering") == 1, stderr
    assert (f"warning: the Docker daemon stopped answering ({dockerd.host}: Connection refused); "
            "evaluating on the process backend from now on (sandbox.backend auto)") in flat(stderr)
    finished = only_run(url)
    assert finished.run.status == "finished" and finished.evaluated == budget
    assert_lineage_is_whole(url, finished.run.id)
    stored = programs(url, finished.run.id)
    assert {p.status for p in stored} == {"correct"}  # none recorded with the daemon's error
    assert {p.backend for p in stored} == {"docker", "process"}
    docker_done = [p for p in stored if p.backend == "docker"]
    assert all(p.evaluated_at <= min(q.evaluated_at for q in stored if q.backend == "process") for p in docker_done)
    assert set(attempts_per_program(tmp_path / "store.db")) == {1}  # the ones in flight: evaluated once


def test_resuming_a_docker_run_under_auto_without_a_daemon_says_it_falls_back(tmp_path, dockerd, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    budget = 12
    task = docker_task(tmp_path, "auto", sleep=1)
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    proc = start_agent("evolve", str(task), "--store", url, "--evaluations", str(budget), "-q", cwd=tmp_path)
    deadline = time.monotonic() + 180
    while evaluated(db) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    stopped = only_run(url)
    assert {p.backend for p in programs(url, stopped.run.id) if p.status != "pending"} == {"docker"}
    dockerd.stop(signal.SIGTERM)

    resumed = run_agent("evolve", str(task), "--store", url, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert ("warning: sandbox.backend auto: Docker is not usable here (no Docker daemon answered "
            f"({dockerd.host}: ") in flat(resumed.stderr), resumed.stderr
    assert "evaluating on the process backend" in flat(resumed.stderr)
    finished = only_run(url)
    assert finished.run.status == "finished" and finished.evaluated == budget
    assert_lineage_is_whole(url, finished.run.id)
    after = [p for p in programs(url, finished.run.id) if p.evaluated_at > stopped.run.ended_at]
    assert after and {p.backend for p in after} == {"process"}
