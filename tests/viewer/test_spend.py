"""What the LLM spend bought, in the viewer (agent/viewer/spend.py, static/js/spend.js): the API
answer over a store filled through the Store's methods (tests/viewer/spend_fixture.py), the
static report's copy of it, and the run page in headless Chromium served by a real `agent view`:
a row per model and one for all of them, dollars and calls by outcome, the share that bought an
evaluation, the bar of dollars by outcome, the evaluator's calls apart, model names as text; a
run without LLM calls shows no panel."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.viewer.catalog import Catalog
from agent.viewer.data import ViewData
from agent.viewer.report import report_data
from tests.viewer.conftest import Page, ViewerProcess, api_client, get_json
from tests.viewer.spend_fixture import HOSTILE, MINI, SONNET, SpendStore, fill_spend_store


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> SpendStore:
    return fill_spend_store(tmp_path_factory.mktemp("spend_view"))


@pytest.fixture(scope="module")
def client(filled: SpendStore):
    yield from api_client(filled.url)


get = get_json


def test_the_endpoint_answers_the_spend_by_model_and_outcome(client, filled):
    answer = get(client, f"/api/runs/{filled.run_id}/spend/outcomes")
    assert answer["outcomes"] == ["evaluated", "pending", "duplicate", "unapplied", "summary", "nothing"]
    assert [m["model"] for m in answer["models"]] == [SONNET, MINI, HOSTILE]
    sonnet = answer["models"][0]
    calls = {o: s["calls"] for o, s in sonnet["outcomes"].items()}
    assert calls == {"evaluated": 2, "pending": 0, "duplicate": 1, "unapplied": 1, "summary": 0, "nothing": 0}
    assert sonnet["outcomes"]["evaluated"]["dollars"] == pytest.approx(0.048)
    assert sonnet["total"] == {"calls": 4, "dollars": pytest.approx(0.06)}
    assert sonnet["dollar_share"] == pytest.approx(0.8) and sonnet["call_share"] == 0.5
    mini = {o: s["calls"] for o, s in answer["models"][1]["outcomes"].items()}
    assert (mini["pending"], mini["summary"], mini["nothing"]) == (1, 1, 1)
    assert answer["all"]["model"] == "all models" and answer["all"]["total"]["calls"] == 8
    assert answer["all"]["outcomes"]["unapplied"]["calls"] == 2
    assert answer["evaluator"] == [{"model": MINI, "calls": 2, "dollars": pytest.approx(0.0009)}]


def test_a_run_without_llm_calls_answers_empty_lists(client, filled):
    answer = get(client, f"/api/runs/{filled.tuned_run_id}/spend/outcomes")
    assert answer == {"outcomes": ["evaluated", "duplicate", "unapplied", "summary", "nothing"], "models": [],
                      "all": None, "evaluator": []}  # fmt: skip


def test_the_report_records_the_spend_by_outcome(filled):
    catalog = Catalog([filled.url])
    try:
        recorded = report_data(ViewData(catalog), filled.run_id)
    finally:
        catalog.close()
    answer = recorded["responses"][f"/api/runs/{filled.run_id}/spend/outcomes"]
    assert [m["model"] for m in answer["models"]] == [SONNET, MINI, HOSTILE]


# -- in the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spend_viewer(filled: SpendStore) -> Iterator[ViewerProcess]:
    folder = filled.url.removeprefix("sqlite:///").rsplit("/runs/", 1)[0]
    server = ViewerProcess(filled.url, folder)
    yield server
    server.stop()


@pytest.fixture
def page(browser, spend_viewer) -> Iterator[Page]:
    p = Page(browser, spend_viewer.url)
    yield p
    p.context.close()
    assert p.errors == [], p.errors


def test_the_run_page_shows_what_the_spend_bought_per_model(page, filled, screenshots):
    page.open(f"#/run/{filled.run_id}")
    panel = page.page.locator("#spend-outcomes")
    panel.locator(".spend-outcomes tbody tr").first.wait_for()
    heads = [t.strip() for t in panel.locator(".spend-outcomes thead th").all_inner_texts()]
    assert heads[:7] == ["model", "evaluated", "pending", "duplicate", "unapplied", "summary", "nothing"]
    rows = panel.locator(".spend-outcomes tbody tr")
    assert [rows.nth(i).get_attribute("data-model") for i in range(rows.count())] == [SONNET, MINI, HOSTILE, "all models"]
    sonnet = panel.locator(f'.spend-outcomes tr[data-model="{SONNET}"]')
    cell = lambda outcome: sonnet.locator(f'td[data-outcome="{outcome}"]').inner_text().split()
    assert cell("evaluated") == ["$0.0480", "2", "calls"]
    assert cell("duplicate") == ["$0.0060", "1", "call"] and cell("unapplied") == ["$0.0060", "1", "call"]
    assert sonnet.locator("td.share").inner_text().split() == ["80", "%", "50", "%", "of", "calls"]
    bar = sonnet.locator(".outcome-bar [data-outcome]")
    width = lambda i: bar.nth(i).evaluate("e => parseFloat(e.style.width)")  # percent of the bar
    widths = {bar.nth(i).get_attribute("data-outcome"): width(i) for i in range(bar.count())}
    assert widths == {"evaluated": pytest.approx(80), "duplicate": pytest.approx(10), "unapplied": pytest.approx(10)}
    assert panel.locator(f'.spend-outcomes tr[data-model="{MINI}"] td.share').inner_text().split()[:2] == ["0.0", "%"]
    hostile = panel.locator(".spend-outcomes tbody tr").nth(2).locator("td").first
    assert hostile.inner_text() == HOSTILE  # the markup of a model name stays text
    evaluator = panel.locator(".spend-evaluator tbody tr")
    assert evaluator.count() == 1 and evaluator.locator("td").all_inner_texts()[:2] == [MINI, "2"]
    assert page.page.evaluate("window.__pwned") is None
    assert page.page.locator("#app img, #app b").count() == 0
    panel.screenshot(path=screenshots / "run_spend_outcomes.png")


def test_the_report_file_shows_the_spend_panel(browser, filled, tmp_path):
    out = tmp_path / "report.html"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "report", filled.run_id[:8], "--db", filled.url, "--out", str(out)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = Page(browser, out.as_uri())
    try:
        page.open("")
        rows = page.page.locator("#spend-outcomes .spend-outcomes tbody tr")
        rows.first.wait_for()
        assert [rows.nth(i).get_attribute("data-model") for i in range(rows.count())] == [SONNET, MINI, HOSTILE, "all models"]
        assert page.errors == [], page.errors
    finally:
        page.context.close()


def test_a_run_without_llm_calls_shows_no_spend_panel(page, filled):
    page.open(f"#/run/{filled.tuned_run_id}")
    page.page.locator(".programs-table tbody tr").first.wait_for()  # loaded after the spend panels
    assert "No LLM calls" in page.page.locator("#spend").inner_text()
    assert page.page.locator("#spend-outcomes").count() == 0
