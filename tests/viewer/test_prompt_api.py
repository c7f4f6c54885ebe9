"""The viewer's program API for prompt programs: per-example results against the parent's,
over a real SQLite store written through `Store` (tests/viewer/prompt_fixture.py)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from agent.viewer.app import create_app
from agent.viewer.catalog import Catalog
from agent.viewer.data import ViewData
from agent.viewer.examples import change
from archives.records import EvalResult, Program, Status
from archives.store import Store
from tests.viewer.prompt_fixture import INPUT_MARKUP, LONG_INPUT, OUTPUT_MARKUP, PROMPT, PromptStore, fill_prompt_store


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> PromptStore:
    return fill_prompt_store(tmp_path_factory.mktemp("prompts"))


@pytest.fixture(scope="module")
def client(prompts: PromptStore):
    catalog = Catalog([prompts.url])
    with TestClient(create_app(catalog), base_url="http://127.0.0.1:8765") as c:
        yield c
    catalog.close()


def program(client: TestClient, prompts: PromptStore, program_id: str) -> dict:
    response = client.get(f"/api/runs/{prompts.run_id}/programs/{program_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_child_lists_what_it_fixed_and_broke_against_its_parent_broke_first(client, prompts):
    detail = program(client, prompts, prompts.child_id)
    ex = detail["examples"]
    assert ex["parent_id"] == prompts.root_id
    assert ex["counts"] == {"total": 30, "passed": 22, "compared": 30, "parent_passed": 20, "fixed": 3, "broke": 1}
    assert ex["summary"] == "fixed 3, broke 1 of 30 against its parent"
    rows = ex["rows"]
    marked = [(r["id"], r["change"]) for r in rows[:4]]
    assert marked == [("ex5", "broke"), ("ex21", "fixed"), ("ex22", "fixed"), ("ex23", "fixed")]
    assert [r["id"] for r in rows[4:11]] == [f"ex{i}" for i in range(24, 31)]  # still failing, then the passing ones
    assert [r["id"] for r in rows[11:]] == [f"ex{i}" for i in range(1, 21) if i != 5]
    by_id = {r["id"]: r for r in rows}
    assert by_id["ex6"]["score"] == 0.6 and by_id["ex6"]["parent_score"] == 1.0 and by_id["ex6"]["change"] is None
    assert by_id["ex24"]["parent_score"] == 0.0 and by_id["ex24"]["change"] is None
    assert by_id["ex23"]["score"] == 0.5 and by_id["ex23"]["passed"]
    broke = by_id["ex5"]
    assert broke["output"] == OUTPUT_MARKUP and broke["expected"] == "positive" and broke["split"] == "validation"
    assert by_id["ex21"]["input"] == INPUT_MARKUP and by_id["ex1"]["input"] == LONG_INPUT
    assert "examples" not in detail["program"]  # sent once, under "examples"


def test_a_prompt_program_is_plain_text_and_the_initial_one_has_nothing_to_compare(client, prompts):
    root = program(client, prompts, prompts.root_id)
    assert root["language"] == "plaintext" and root["program"]["source"] == PROMPT
    ex = root["examples"]
    assert ex["parent_id"] is None and ex["counts"]["compared"] == 0 and ex["counts"]["passed"] == 20
    assert all(r["parent_score"] is None and r["change"] is None for r in ex["rows"])
    assert ex["summary"] == "passes 20 of 30; the initial program has no parent to compare against"


def test_examples_the_parent_was_not_scored_on_have_no_mark_and_are_counted_apart(client, prompts):
    ex = program(client, prompts, prompts.partial_id)["examples"]
    assert ex["counts"]["compared"] == 7 and ex["counts"]["fixed"] == ex["counts"]["broke"] == 0
    assert ex["summary"] == "fixed 0, broke 0 of 7 against its parent (23 more not scored for the parent)"
    unscored = [r for r in ex["rows"] if r["parent_score"] is None]
    assert len(unscored) == 23 and all(r["change"] is None for r in unscored)


def test_a_program_without_examples_has_none_and_program_runs_are_unchanged(client, prompts, tmp_path):
    failed = program(client, prompts, prompts.failed_id)
    assert failed["examples"] is None and failed["program"]["status"] == "error"
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with Store(url) as store:
        config = {"kind": "program", "program": "initial.py", "language": "python"}
        run = store.create_run("quadratic", "/q.yaml", "pq", 0, config)
        store.add_program(Program(id="plain", run_id=run.id, source="X = 1\n"))
        store.finish_program("plain", EvalResult(Status.CORRECT, fitness=1.0))
    catalog = Catalog([url])
    detail = ViewData(catalog).program(run.id, "plain")
    catalog.close()
    assert detail["examples"] is None and detail["language"] == "python"


def test_the_rule_marks_only_crossings_of_the_pass_score():
    assert change(0.5, 0.49) == "fixed" and change(0.49, 0.5) == "broke"
    assert change(1.0, 0.6) is None and change(0.0, 0.4) is None and change(1.0, None) is None
