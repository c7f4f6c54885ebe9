"""The viewer's JSON API over a store filled by a real run (Starlette's test client)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agent.viewer.app import create_app
from agent.viewer.catalog import Catalog
from archives.records import Status
from archives.store import Store, StoreError
from tests.viewer.run_fixture import MARKUP, FilledStore


@pytest.fixture(scope="module")
def client(filled: FilledStore):
    catalog = Catalog([filled.url])
    with TestClient(create_app(catalog), base_url="http://127.0.0.1:8765") as c:
        yield c
    catalog.close()


@pytest.fixture(scope="module")
def programs(filled: FilledStore):
    with Store(filled.url) as store:
        return store.programs(filled.run_id)


def get(client: TestClient, path: str, status: int = 200) -> dict:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_runs_lists_both_runs_with_counts_best_and_spend_from_the_store(client, filled):
    runs = get(client, "/api/runs")["runs"]
    assert len(runs) == 2
    with Store(filled.url) as store:
        summaries = {s.run.id: s for s in store.list_runs()}
    for row in runs:
        s = summaries[row["id"]]
        assert (row["task"], row["strategy"], row["status"]) == ("quadratic", "map_elites", "finished")
        assert row["evaluated"] == s.evaluated and row["counts"] == s.counts
        assert row["best_fitness"] == s.best_fitness and row["cost"] == pytest.approx(s.cost)
    assert sorted(r["evaluated"] for r in runs) == [6, 30]
    assert runs[0]["started_at"] > runs[1]["started_at"]  # newest first


def test_a_run_is_found_by_prefix_and_an_unknown_one_is_a_404_with_one_line(client, filled):
    run = get(client, f"/api/runs/{filled.run_id[:6]}")["run"]
    assert run["id"] == filled.run_id and run["best"]["status"] == "correct"
    assert run["language"] == "python" and run["budget"]["evaluations"] == 30
    error = get(client, "/api/runs/ffffffffff", 404)["error"]
    assert "no run" in error and "\n" not in error


def test_points_hold_every_settled_program_in_the_order_it_settled(client, filled, programs):
    points = get(client, f"/api/runs/{filled.run_id}/points")
    settled = [p for p in programs if p.status != Status.PENDING]
    assert len(points["id"]) == len(points["status"]) == len(points["fitness"]) == len(settled)
    assert set(points["id"]) == {p.id for p in settled}
    assert points["done_at"] == sorted(points["done_at"])
    by_id = {p.id: p for p in programs}
    assert all(by_id[i].fitness == f for i, f in zip(points["id"], points["fitness"]))


def test_programs_are_paged_filtered_and_sorted(client, filled, programs):
    base = f"/api/runs/{filled.run_id}/programs"
    first = get(client, base + "?limit=10")
    second = get(client, base + "?limit=10&offset=10")
    assert first["total"] == len(programs)
    assert [p["seq"] for p in first["items"] + second["items"]] == list(range(1, 21))
    correct = get(client, base + "?status=correct&order=fitness&limit=1000")
    fits = [p["fitness"] for p in correct["items"]]
    assert correct["total"] == sum(p.status == Status.CORRECT for p in programs) == len(fits)
    assert fits == sorted(fits, reverse=True)
    failed = get(client, base + "?status=wrong,build_failed&limit=1000")["items"]
    assert {p["status"] for p in failed} == {"wrong", "build_failed"}
    assert "source" not in first["items"][0]  # listings stay light
    assert sum(p["children"] for p in get(client, base + "?limit=1000")["items"]) == len(programs) - 1
    assert "unknown status" in get(client, base + "?status=bogus", 400)["error"]
    assert "integer" in get(client, base + "?offset=x", 400)["error"]
    assert "offset" in get(client, base + "?offset=-1", 400)["error"]


def test_tree_levels_cover_every_program_and_the_best_path_runs_from_root_to_best(client, filled, programs):
    tree = get(client, f"/api/runs/{filled.run_id}/tree")
    assert tree["total"] == len(programs)
    assert {lv["generation"]: lv["count"] for lv in tree["levels"]} == dict(Counter(p.generation for p in programs))
    seen = []
    for level in tree["levels"]:
        for offset in range(0, level["count"], 4):
            page = get(client, f"/api/runs/{filled.run_id}/tree/{level['generation']}?offset={offset}&limit=4")
            assert all(b["generation"] == level["generation"] for b in page["items"])
            seen += [b["id"] for b in page["items"]]
    assert sorted(seen) == sorted(p.id for p in programs)
    path = tree["best_path"]
    best = max((p for p in programs if p.status == Status.CORRECT), key=lambda p: p.fitness)
    assert path[0]["parent_id"] is None and path[-1]["id"] == best.id
    assert all(child["parent_id"] == parent["id"] for parent, child in zip(path, path[1:]))


def test_a_program_has_its_source_stages_prompt_answer_and_children(client, filled, programs):
    child = next(p for p in programs if p.status == Status.CORRECT and p.parent_id)
    detail = get(client, f"/api/runs/{filled.run_id}/programs/{child.id[:10]}")
    assert detail["program"]["source"] == child.source and detail["parent"]["id"] == child.parent_id
    assert detail["program"]["reason"] and detail["language"] == "python"
    assert [e["stage"] for e in detail["evaluations"]] and all(e["ok"] for e in detail["evaluations"])
    (call,) = detail["llm_calls"]
    assert [m["role"] for m in call["messages"]] == ["system", "user"] and call["response"]
    assert detail["lineage"][-1]["id"] == child.id and detail["lineage"][0]["parent_id"] is None
    assert detail["children"] == sum(p.parent_id == child.id for p in programs)
    assert detail["kernel"] is None
    kids = get(client, f"/api/runs/{filled.run_id}/programs/{child.id}/children")
    assert kids["total"] == detail["children"] == len(kids["items"])
    assert get(client, f"/api/runs/{filled.run_id}/programs/nope", 404)["error"]


def test_diff_against_the_parent_and_against_any_program_is_computed_on_the_server(client, filled, programs):
    by_id = {p.id: p for p in programs}
    child = next(p for p in programs if p.status == Status.CORRECT and p.parent_id and p.source != by_id[p.parent_id].source)
    diff = get(client, f"/api/runs/{filled.run_id}/programs/{child.id}/diff")
    assert diff["from"]["id"] == child.parent_id and not diff["identical"]
    removed = [ln["text"] for h in diff["hunks"] for ln in h["lines"] if ln["op"] == "-"]
    added = [ln["text"] for h in diff["hunks"] for ln in h["lines"] if ln["op"] == "+"]
    assert all(t in by_id[child.parent_id].source.splitlines() for t in removed)
    assert all(t in child.source.splitlines() for t in added) and added
    other = programs[0]
    against = get(client, f"/api/runs/{filled.run_id}/programs/{child.id}/diff?against={other.id[:8]}")
    assert against["from"]["id"] == other.id
    same = get(client, f"/api/runs/{filled.run_id}/programs/{child.id}/diff?against={child.id}")
    assert same["identical"] and same["hunks"] == []


def test_the_hostile_program_comes_back_byte_for_byte_as_json_text(client, filled, programs):
    hostile = next(p for p in programs if MARKUP in p.source)
    detail = get(client, f"/api/runs/{filled.run_id}/programs/{hostile.id}")
    assert detail["program"]["source"] == hostile.source
    raw = client.get(f"/api/runs/{filled.run_id}/programs/{hostile.id}").text
    assert MARKUP in detail["program"]["source"] and "<script>" in raw  # JSON, served as JSON
    assert client.get(f"/api/runs/{filled.run_id}/programs/{hostile.id}").headers["x-content-type-options"] == "nosniff"


def test_strategy_spend_and_stage_times(client, filled):
    state = get(client, f"/api/runs/{filled.run_id}/strategy")
    assert state["strategy"] == "map_elites" and state["state"]["kind"] == "map_elites"
    assert state["state"]["elites"] and state["state"]["axes"]
    spend = get(client, f"/api/runs/{filled.run_id}/spend")
    with Store(filled.url) as store:
        calls = store.llm_calls(filled.run_id)
    assert {m["model"] for m in spend["models"]} == {c.model for c in calls}
    assert sum(m["calls"] for m in spend["models"]) == len(calls)
    assert spend["total"] == pytest.approx(sum(c.cost for c in calls)) and spend["total"] > 0
    stages = get(client, f"/api/runs/{filled.run_id}/stages")["stages"]
    assert {"compile", "evaluate"} <= {s["stage"] for s in stages}
    compile_ = next(s for s in stages if s["stage"] == "compile")
    assert compile_["failures"] == compile_["runs"] > 0  # only programs that failed to build stop there


def test_the_viewer_is_read_only_and_leaves_the_database_untouched(client, filled):
    db = Path(filled.url.removeprefix("sqlite:///"))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for path in ("/api/runs", f"/api/runs/{filled.run_id}", f"/api/runs/{filled.run_id}/programs"):
        for method in ("post", "put", "delete", "patch"):
            assert getattr(client, method)(path).status_code == 405
        get(client, path)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with Store(filled.url, read_only=True) as store, pytest.raises(StoreError):
        store.set_run_status(filled.run_id, "stopped")


def test_every_response_is_locked_down_and_foreign_host_headers_are_refused(client):
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/static/js/app.js\"></script>" in page.text
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert client.get("/api/runs", headers={"host": "attacker.example"}).status_code == 400
    assert client.get("/api/nothing-here").status_code == 404


def test_vendored_libraries_are_served_with_their_licenses():
    root = Path(__file__).parents[2] / "agent" / "viewer" / "static" / "vendor"
    for lib in ("uplot", "d3", "highlight"):
        assert (root / lib / "LICENSE").stat().st_size > 300
    catalog = Catalog(folder=Path("."))
    with TestClient(create_app(catalog), base_url="http://localhost") as c:
        for path in ("vendor/d3/d3.min.js", "vendor/uplot/uPlot.iife.min.js", "vendor/highlight/highlight.min.js"):
            response = c.get(f"/static/{path}")
            assert response.status_code == 200 and len(response.content) > 40_000
