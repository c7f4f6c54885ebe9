"""`agent evolve --store postgresql://...` end to end: runs written to PostgreSQL, read back by
`agent show` and the viewer, and two controllers writing into one store at once
(tests/postgres.py: skipped without a server)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, copy_task, run_agent, start_agent
from tests.e2e.test_evolve_with_llm import rewriting_responder
from tests.fakes.openai_server import FakeOpenAIServer
from tests.postgres import fresh_schema
from tests.viewer.conftest import ViewerProcess

EVALUATIONS = 8


def evolve_args(task: Path, server: FakeOpenAIServer, url: str) -> list[str]:
    return ["evolve", str(task), "--model", "openai/fake-coder", "--api-base", server.url, "--store", url,
            "--evaluations", str(EVALUATIONS), "-q"]  # fmt: skip


def task_named(tmp_path: Path, name: str) -> Path:
    """A copy of the quadratic task in a folder of its own, under another task name."""
    folder = tmp_path / name
    folder.mkdir()
    task = copy_task(folder)
    task.write_text(task.read_text().replace("name: quadratic", f"name: {name}"))
    return task


def test_evolve_writes_to_postgresql_and_show_and_the_viewer_read_it(tmp_path: Path) -> None:
    with fresh_schema() as url, FakeOpenAIServer() as server:
        server.set_responder(rewriting_responder())
        proc = run_agent(*evolve_args(copy_task(tmp_path), server, url), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.db"))  # no SQLite file
        with Store(url) as store:
            [summary] = store.list_runs()
            calls = store.llm_calls(summary.run.id)
            stored = {p.id for p in store.programs(summary.run.id)}
        assert summary.run.status == "finished" and summary.evaluated == EVALUATIONS
        assert len(calls) == len(server.requests) == summary.llm_calls
        assert_lineage_is_whole(url, summary.run.id)

        shown = run_agent("show", summary.run.id[:8], "--store", url, cwd=tmp_path, timeout=120)
        assert shown.returncode == 0, shown.stderr
        assert summary.run.id in shown.stdout and f"{summary.best_fitness:.6g}" in shown.stdout

        viewer = ViewerProcess(url, tmp_path)
        try:
            with urllib.request.urlopen(viewer.url + "api/runs", timeout=30) as response:
                [row] = json.loads(response.read())["runs"]
            with urllib.request.urlopen(viewer.url + f"api/runs/{summary.run.id}/programs", timeout=30) as response:
                listed = json.loads(response.read())
        finally:
            viewer.stop()
        assert (row["id"], row["task"], row["evaluated"]) == (summary.run.id, "quadratic", EVALUATIONS)
        assert listed["total"] == len(stored) and {p["id"] for p in listed["items"]} == stored


def test_two_controllers_writing_into_one_postgresql_store_at_once_lose_nothing(tmp_path: Path) -> None:
    with fresh_schema() as url, FakeOpenAIServer() as server:
        server.set_responder(rewriting_responder())
        procs = [start_agent(*evolve_args(task_named(tmp_path, name), server, url), cwd=tmp_path)
                 for name in ("left", "right")]  # fmt: skip
        for proc in procs:
            _, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr
        with Store(url) as store:
            runs = {s.run.task_name: s for s in store.list_runs()}
            calls = store.llm_calls()
            programs = {s.run.id: store.programs(s.run.id) for s in runs.values()}
        assert sorted(runs) == ["left", "right"]
        for summary in runs.values():
            assert summary.run.status == "finished" and summary.evaluated == EVALUATIONS, summary.run.task_name
            assert_lineage_is_whole(url, summary.run.id)
    # Every answer the fake LLM gave either controller is stored, linked to a program of the
    # run that asked; every program but the initial one came from one of those answers.
    assert len(calls) == len(server.requests)
    run_of = {p.id: run_id for run_id, found in programs.items() for p in found}
    assert all(run_of[c.program_id] == c.run_id for c in calls)
    for run_id, found in programs.items():
        assert len(found) == 1 + sum(c.run_id == run_id for c in calls)
