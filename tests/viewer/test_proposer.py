"""What the learning proposer did, in the viewer (agent/viewer/proposer.py, static/js/proposer.js):
the API answers over a store filled through the Store's methods (tests/viewer/proposer_fixture.py),
and the pages in headless Chromium served by a real `agent view`: the run's panel (models by
role, meta-prompt lineage, plans, knowledge) and a program's choices, LLM text kept as text; a run
without these records shows no panel and its API answers say so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.viewer.catalog import Catalog
from agent.viewer.report import report_data
from agent.viewer.data import ViewData
from tests.viewer.conftest import Page, ViewerProcess, api_client, get_json
from tests.viewer.proposer_fixture import BIG, MINI, OLD_TRANSFORMATION, PLAN_TEXT, ProposerStore, fill_proposer_store


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> ProposerStore:
    return fill_proposer_store(tmp_path_factory.mktemp("proposer_view"))


@pytest.fixture(scope="module")
def client(filled: ProposerStore):
    yield from api_client(filled.url)


get = get_json


def test_the_proposer_endpoint_answers_the_runs_audit(client, filled):
    ids = filled.ids
    answer = get(client, f"/api/runs/{filled.run_id}/proposer")
    assert answer["recorded"] is True
    roles = [(r["role"], r["model"], r["calls"], r["failed"], r["mean_reward"]) for r in answer["roles"]]
    assert roles == [
        ("draft", BIG, 1, 0, 0.0), ("draft", MINI, 3, 1, 0.25), ("fix", BIG, 1, 0, None),
        ("plan", BIG, 2, 0, None), ("meta", BIG, 1, 0, None), ("distil", MINI, 1, 0, None),
    ]  # fmt: skip
    metas = [(m["id"], m["parent_id"], m["depth"], m["children"], m["mean_gain"]) for m in answer["meta_prompts"]]
    assert metas[0] == (ids["M0"], None, 0, 1, 0.5) and metas[1][:4] == (ids["M1"], ids["M0"], 1, 2)
    assert metas[2][:4] == (ids["M2"], ids["M1"], 2, 1) and metas[2][4] == pytest.approx(-0.1)
    assert [(p["id"], p["gain"]) for p in answer["plans"]] == [(ids["P1"], 0.5), (ids["P2"], -0.1), (ids["P3"], None)]
    used = {k["id"]: (k["found"], k["used_by"], k["gained"]) for k in answer["knowledge_used"]}
    assert used == {ids["K_old"]: (True, 2, 1), ids["K_gone"]: (False, 1, 0)}
    assert [k["id"] for k in answer["knowledge_written"]] == [ids["K_new"]]


def test_a_program_answer_carries_its_choices_and_the_records_they_name(client, filled):
    ids = filled.ids
    d = get(client, f"/api/runs/{filled.run_id}/programs/{ids['c1']}")
    proposal = d["proposal"]
    assert proposal["choices"] == {"role": "draft", "model": MINI, "meta_prompt_id": ids["M0"],
                                   "plan_id": ids["P1"], "knowledge_ids": [ids["K_old"]]}  # fmt: skip
    assert proposal["meta_prompt"]["system"] == "You optimise programs." and proposal["plan"]["text"] == PLAN_TEXT
    assert [(k["id"], k["found"], k["transformation"]) for k in proposal["knowledge"]] == [
        (ids["K_old"], True, OLD_TRANSFORMATION)
    ]
    assert [(c["role"], c["reward"]) for c in d["llm_calls"]] == [("plan", None), ("draft", 0.5)]
    c2 = get(client, f"/api/runs/{filled.run_id}/programs/{ids['c2']}")["proposal"]
    assert [(k["id"], k["found"]) for k in c2["knowledge"]] == [(ids["K_old"], True), (ids["K_gone"], False)]
    assert c2["plan"] is None


def test_a_run_without_learning_records_answers_that_it_has_none(client, filled):
    answer = get(client, f"/api/runs/{filled.plain_run_id}/proposer")
    assert answer == {"recorded": False, "roles": [], "meta_prompts": [], "plans": [], "knowledge_used": [],
                      "knowledge_written": []}  # fmt: skip
    kid = get(client, f"/api/runs/{filled.plain_run_id}/programs/plainkid")
    assert kid["proposal"] is None and kid["llm_calls"][0]["role"] is None


def test_the_report_records_the_proposer_answer(filled):
    catalog = Catalog([filled.url])
    try:
        recorded = report_data(ViewData(catalog), filled.run_id)
    finally:
        catalog.close()
    answer = recorded["responses"][f"/api/runs/{filled.run_id}/proposer"]
    assert answer["recorded"] and len(answer["plans"]) == 3


# -- in the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proposer_viewer(filled: ProposerStore) -> Iterator[ViewerProcess]:
    folder = filled.url.removeprefix("sqlite:///").rsplit("/runs/", 1)[0]
    server = ViewerProcess(filled.url, folder)
    yield server
    server.stop()


@pytest.fixture
def page(browser, proposer_viewer) -> Iterator[Page]:
    p = Page(browser, proposer_viewer.url)
    yield p
    p.context.close()
    assert p.errors == [], p.errors


def test_the_run_page_shows_the_proposer_panel_with_llm_text_as_text(page, filled, screenshots):
    ids = filled.ids
    page.open(f"#/run/{filled.run_id}")
    panel = page.page.locator("#proposer")
    panel.locator(".proposer-roles tbody tr").first.wait_for()
    roles = panel.locator(".proposer-roles tbody tr")
    assert roles.count() == 6
    mini = panel.locator(f'.proposer-roles tr[data-role="draft"][data-model="{MINI}"] td')
    assert [t.strip() for t in mini.all_inner_texts()] == ["draft", MINI, "3", "1", "$0.0020", "0.25", "2"]
    metas = panel.locator(".proposer-metas tbody tr")
    assert [metas.nth(i).get_attribute("data-depth") for i in range(3)] == ["0", "1", "2"]
    assert metas.nth(0).locator("td.gain").inner_text() == "+0.5"
    metas.nth(1).locator("details summary").click()
    assert "You optimise programs boldly." in metas.nth(1).locator("details").inner_text()
    plans = panel.locator(".proposer-plans tbody tr")
    assert [plans.nth(i).get_attribute("data-plan") for i in range(3)] == [ids["P1"], ids["P2"], ids["P3"]]
    assert "3 written, 2 implemented, 1 gained" in panel.locator(".plans-summary").inner_text()
    plans.nth(0).locator(".plan-text summary").click()
    assert plans.nth(0).locator(".plan-text pre.text").inner_text() == PLAN_TEXT
    used = panel.locator(".proposer-knowledge-used tbody tr")
    assert used.count() == 2
    assert OLD_TRANSFORMATION in used.nth(0).inner_text()
    assert "no longer in the store" in used.nth(1).inner_text()
    assert panel.locator(".proposer-knowledge-written tbody tr").count() == 1
    assert page.page.evaluate("window.__pwned") is None
    assert page.page.locator("#app img, #app b").count() == 0
    panel.screenshot(path=screenshots / "run_proposer.png")
    plans.nth(0).locator("a").nth(1).click()  # the child that implemented the best plan
    page.page.locator("#proposal").wait_for()
    assert ids["c1"][:8] in page.page.locator("h1").inner_text()


def test_a_program_page_shows_its_choices_and_its_calls_roles(page, filled, screenshots):
    ids = filled.ids
    page.open(f"#/run/{filled.run_id}/program/{ids['c1']}")
    panel = page.page.locator("#proposal")
    panel.wait_for()
    rows = dict(zip(panel.locator("th").all_inner_texts(), panel.locator("td").all_inner_texts()))
    assert rows["role"] == "draft" and rows["model"] == MINI
    assert rows["meta-prompt"].startswith(f"{ids['M0'][:8]} (initial)")
    assert panel.locator(".plan-choice pre.text").inner_text() == PLAN_TEXT
    assert panel.locator(f'.knowledge-choice li[data-entry="{ids["K_old"]}"]').inner_text().startswith(ids["K_old"][:8])
    page.page.screenshot(path=screenshots / "program_proposal.png", full_page=True)
    page.page.locator(".tab[data-tab=llm]").click()
    heads = page.page.locator("[data-panel=llm] .llm-call .meta").all_inner_texts()
    assert heads[0].startswith(f"role plan · reward – · {BIG}") and heads[1].startswith(f"role draft · reward 0.5 · {MINI}")
    assert page.page.evaluate("window.__pwned") is None
    assert page.page.locator("#app img, #app b").count() == 0


def test_a_run_and_a_program_without_learning_records_show_no_panel(page, filled):
    page.open(f"#/run/{filled.plain_run_id}")
    page.page.locator("#spend table").wait_for()
    page.page.locator(".programs-table tbody tr").first.wait_for()
    assert page.page.locator("#proposer").count() == 0
    page.open(f"#/run/{filled.plain_run_id}/program/plainkid")
    page.page.locator(".tabs").wait_for()
    assert page.page.locator("#proposal").count() == 0
    page.page.locator(".tab[data-tab=llm]").click()
    assert page.page.locator("[data-panel=llm] .llm-call .meta").inner_text().startswith(MINI)
