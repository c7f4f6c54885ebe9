"""The viewer's suites (`agent suite run`), over a store written with the Store API: the JSON
API answers the report's own numbers, and in headless Chromium (served by a real `agent view`)
the Suites entry lists the suites, a suite's page shows its problems and overall figures, a
problem opens its run, a problem that could not run says why, and a hostile problem name stays
text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from archives.records import EvalResult, LLMCall, Program, Status, Suite, SuiteProblem
from archives.store import Store
from tests.viewer.conftest import Page, ViewerProcess, api_client, get_json
from tests.viewer.run_fixture import MARKUP

SUITE = "level1-gpt"
OTHER = "level1-tiny"
HOSTILE = "x" + MARKUP  # a problem file may be called anything the file system allows
REASON = "reference.py: the reference raised RuntimeError: CUDA is not available"


@dataclass(frozen=True)
class SuiteStore:
    url: str
    folder: Path
    runs: dict[str, str]  # problem name -> run id


def _run(store: Store, task: str, programs: list[EvalResult], dollars: float) -> str:
    """A run of `task` with `programs` judged in order and `dollars` of LLM spend."""
    run = store.create_run(task, f"suites/{SUITE}/{task}/task.yaml", "greedy", 0, {"kind": "kernel"})
    for result in programs:
        program = store.add_program(Program(id=uuid.uuid4().hex, run_id=run.id, source=f"# {task}\n", proposer="llm:m"))
        store.finish_program(program.id, result)
    store.add_llm_call(LLMCall(id=uuid.uuid4().hex, run_id=run.id, model="openai/m", prompt="[]", cost=dollars))
    store.set_run_status(run.id, "finished")
    return run.id


def _fill(url: str) -> dict[str, str]:
    fast = EvalResult(Status.CORRECT, fitness=2.0, metrics={
        "runtime_ms": 0.125, "speedup": 2.5, "speedup_vs_compile": 1.1, "roofline_fraction": 0.8})
    slow = EvalResult(Status.CORRECT, fitness=0.9, metrics={
        "runtime_ms": 1.5, "speedup": 0.9, "speedup_vs_compile": 0.5, "roofline_fraction": 0.2})
    wrong = EvalResult(Status.WRONG, error="correctness: trial 1: 12 of 100 elements out of tolerance")
    with Store(url) as store:
        store.add_suite(Suite(OTHER, {"paths": ["tiny"], "language": "triton", "evaluations": 2}, created_at=1.0))
        store.add_suite(Suite(SUITE, {"paths": ["level1"], "language": "triton", "evaluations": 20,
                                      "model": "openai/gpt-4o-mini"}, created_at=2.0))
        runs = {
            "19_ReLU": _run(store, "19_ReLU_triton", [wrong, fast], 0.25),
            "23_Softmax": _run(store, "23_Softmax_triton", [slow], 0.5),
            "40_LayerNorm": _run(store, "40_LayerNorm_triton", [wrong], 0.125),
        }
        for name, run_id in runs.items():
            store.put_suite_problem(SuiteProblem(SUITE, name, f"level1/{name}.py", "finished", run_id=run_id))
        store.put_suite_problem(SuiteProblem(SUITE, "95_CrossEntropy", "level1/95_CrossEntropy.py", "cannot_run",
                                             reason=REASON))
        store.put_suite_problem(SuiteProblem(SUITE, HOSTILE, "level1/hostile.py", "pending"))
        store.put_suite_problem(SuiteProblem(OTHER, "19_ReLU", "tiny/19_ReLU.py", "pending"))
        untimed = _run(store, "1_Add_triton", [EvalResult(Status.CORRECT, fitness=0.0)], 0.0)  # no GPU: no speedups
        store.put_suite_problem(SuiteProblem(OTHER, "1_Add", "tiny/1_Add.py", "finished", run_id=untimed))
    return runs


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> SuiteStore:
    folder = tmp_path_factory.mktemp("suites")
    url = f"sqlite:///{folder / 'suites.db'}"
    return SuiteStore(url, folder, _fill(url))


@pytest.fixture(scope="module")
def client(suites: SuiteStore) -> Iterator[object]:
    yield from api_client(suites.url)


# -- the API ---------------------------------------------------------------------------------------


def test_suites_api_lists_each_suite_with_its_counts_newest_first(client) -> None:
    rows = get_json(client, "/api/suites")
    assert [r["name"] for r in rows] == [SUITE, OTHER]
    mine = rows[0]
    assert (mine["problems"], mine["correct"], mine["created_at"]) == (5, 2, 2.0)
    assert {k: n for k, n in mine["statuses"].items() if n} == {"finished": 3, "cannot_run": 1, "pending": 1}


def test_suite_api_answers_the_reports_json(client, suites) -> None:
    from agent.suites.render import render_json
    from agent.suites.report import build_report

    with Store(suites.url, read_only=True) as store:
        expected = json.loads(render_json(build_report(store, SUITE)))
    answer = get_json(client, f"/api/suites/{SUITE}")
    assert answer == expected
    rows = {r["name"]: r for r in answer["rows"]}
    assert rows["19_ReLU"]["run_id"] == suites.runs["19_ReLU"] and rows["19_ReLU"]["correct"]
    assert rows["95_CrossEntropy"]["why"] == REASON and not rows["95_CrossEntropy"]["correct"]
    assert answer["fast"]["eager"]["1"] == pytest.approx(1 / 5)  # only 19_ReLU is correct and faster


def test_unknown_suite_is_a_404_with_one_line(client) -> None:
    assert get_json(client, "/api/suites/nope", 404) == {"error": "no suite 'nope' in the store"}


# -- the pages -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def viewer(suites: SuiteStore) -> Iterator[ViewerProcess]:
    server = ViewerProcess(suites.url, suites.folder)
    yield server
    server.stop()


@pytest.fixture
def page(browser, viewer) -> Iterator[Page]:
    p = Page(browser, viewer.url)
    yield p
    p.context.close()
    assert p.errors == [], p.errors


def _cells(page: Page, problem: str) -> list[str]:
    row = page.page.locator(f'.suite-table tbody tr[data-problem="{problem}"]')
    return [t.strip() for t in row.locator("td").all_inner_texts()]


def test_the_suites_entry_lists_suites_and_opens_one(page, screenshots) -> None:
    page.open("#/")
    page.page.locator("nav.nav a", has_text="Suites").click()
    rows = page.page.locator(".suites-table tbody tr")
    rows.nth(1).wait_for()
    names = page.page.locator(".suites-table tbody tr td:first-child").all_inner_texts()
    assert [n.strip() for n in names] == [SUITE, OTHER]
    first = [t.strip() for t in rows.nth(0).locator("td").all_inner_texts()]
    assert first[1:3] == ["5", "2 (40 %)"]
    page.page.screenshot(path=screenshots / "suites.png", full_page=True)
    page.page.locator(".suites-table a", has_text=SUITE).click()
    page.page.locator(".suite-table tbody tr").nth(4).wait_for()
    assert page.page.locator(".suite-header h1").inner_text().strip() == SUITE


def test_a_suite_page_shows_each_problem_and_the_overall_figures(page, screenshots) -> None:
    page.open(f"#/suite/{SUITE}")
    page.page.locator(".suite-table tbody tr").nth(4).wait_for()
    assert page.page.locator(".suite-table tbody tr").count() == 5
    relu = _cells(page, "19_ReLU")
    assert relu[:3] == ["19_ReLU", "finished", "yes"] and relu[4:9] == ["0.125", "2.5×", "1.1×", "80 %", "2"]
    softmax = _cells(page, "23_Softmax")
    assert softmax[2:4] == ["yes", ""] and softmax[5:7] == ["0.9×", "0.5×"]  # correct but slower: not fast_1
    layernorm = _cells(page, "40_LayerNorm")
    assert layernorm[2] == "no" and "best attempt wrong: correctness: trial 1" in layernorm[3]
    cannot = _cells(page, "95_CrossEntropy")
    assert cannot[1:4] == ["cannot run", "no", REASON]
    assert page.page.locator('.suite-table tr[data-problem="95_CrossEntropy"] a').count() == 0  # no run to open
    assert page.page.locator('[data-card="correct"] .card-value').inner_text() == "2 of 5"
    assert page.page.locator('[data-card="spend"] .card-value').inner_text() == "$0.8750"
    eager = [t.strip() for t in page.page.locator('.suite-fast tr[data-baseline="eager"] td').all_inner_texts()]
    assert eager == ["PyTorch eager", "20 %", "20 %", "20 %", "1.5×"]  # fast_1, 1.2, 2; sqrt(2.5 * 0.9)
    compile_ = [t.strip() for t in page.page.locator('.suite-fast tr[data-baseline="compile"] td').all_inner_texts()]
    assert compile_ == ["torch.compile", "20 %", "0.0 %", "0.0 %", "0.742×"]  # sqrt(1.1 * 0.5)
    page.page.screenshot(path=screenshots / "suite.png", full_page=True)


def test_a_problem_opens_its_run(page, suites) -> None:
    page.open(f"#/suite/{SUITE}")
    page.page.locator(".suite-table a", has_text="23_Softmax").click()
    page.page.locator(".run-header .meta").wait_for()
    assert suites.runs["23_Softmax"] in page.page.locator(".run-header .meta").inner_text()
    assert page.page.evaluate("location.hash") == f"#/run/{suites.runs['23_Softmax']}"


def test_a_hostile_problem_name_stays_text(page) -> None:
    page.open(f"#/suite/{SUITE}")
    page.page.locator(".suite-table tbody tr").nth(4).wait_for()
    cell = page.page.locator(".suite-table tbody tr td:first-child .suite-problem").filter(has_text="pwned")
    assert cell.inner_text() == HOSTILE
    assert page.page.locator(".suite-table img, .suite-table b, .suite-table script").count() == 0
    assert page.page.evaluate("window.__pwned") is None
    assert _cells(page, "95_CrossEntropy")[0] == "95_CrossEntropy"  # rows around it intact


def test_a_suite_run_without_a_gpu_says_nothing_was_timed(page) -> None:
    page.open(f"#/suite/{OTHER}")
    page.page.locator(".suite-table tbody tr").nth(1).wait_for()
    assert _cells(page, "1_Add")[1:4] == ["finished", "yes", "not timed (no GPU)"]
    assert _cells(page, "19_ReLU")[1:4] == ["pending", "no", "not run yet"]
    fast = page.page.locator('.suite-fast tr[data-baseline="eager"] td').all_inner_texts()
    assert [t.strip() for t in fast[1:]] == ["–"] * 4
    assert "Nothing was timed" in page.page.locator("#suite-overall").inner_text()
