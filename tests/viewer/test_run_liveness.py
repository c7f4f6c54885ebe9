"""The viewer shows a run whose controller died as crashed, even from a cached answer, and
answers a damaged store with a one-line 500."""

from __future__ import annotations

import sqlite3
import time

from starlette.testclient import TestClient

import archives.lease
from agent.viewer.app import create_app
from agent.viewer.catalog import Catalog
from agent.viewer.data import ViewData
from archives.records import Program
from archives.store import Store

ELSEWHERE = "another-host.example:4242:feedface"


def test_a_cached_running_run_reads_crashed_once_its_lease_is_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(archives.lease, "STALE_SECONDS", 0.5)
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with Store(url) as writer:
        run = writer.create_run("t", "/t.yaml", "pq", 0, {}, owner=ELSEWHERE)
    catalog = Catalog([url])
    try:
        data = ViewData(catalog)
        assert data.run(run.id)["run"]["status"] == "running"
        assert data.runs()["runs"][0]["status"] == "running"
        time.sleep(1.0)  # no write since: the store's answers stay cached
        assert data.run(run.id)["run"]["status"] == "crashed"
        listed = data.runs()["runs"][0]
        assert listed["status"] == "crashed" and "no sign of life: controller another-host.example:4242" in listed["notes"]
    finally:
        catalog.close()


def test_a_damaged_row_is_a_one_line_500(tmp_path):
    db = tmp_path / "v.db"
    url = f"sqlite:///{db}"
    with Store(url) as writer:
        run = writer.create_run("t", "/t.yaml", "pq", 0, {})
        writer.add_program(Program(id="p1", run_id=run.id, source="x = 1"))
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE programs SET descriptors = '[1, 2' WHERE id = 'p1'")
    catalog = Catalog([url])
    try:
        client = TestClient(create_app(catalog), base_url="http://127.0.0.1")
        answer = client.get(f"/api/runs/{run.id}/programs/p1")
        assert answer.status_code == 500
        body = answer.json()
        assert list(body) == ["error"] and "the store is damaged" in body["error"] and "\n" not in body["error"]
        assert client.get(f"/api/runs/{run.id}/programs/nope").status_code == 404  # missing is still 404
    finally:
        catalog.close()
