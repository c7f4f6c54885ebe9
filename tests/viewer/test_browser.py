"""The viewer in headless Chromium, served by a real `agent view` over a store filled by a
real run: pages load without console errors, the heatmap and tree draw the right counts,
clicking through reaches a program's diff, and a hostile program's source stays text.
Each test leaves screenshots (see the `screenshots` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from archives.records import Status
from archives.store import Store
from tests.viewer.conftest import Page
from tests.viewer.run_fixture import MARKUP, FilledStore


@pytest.fixture
def page(browser, viewer) -> Iterator[Page]:
    p = Page(browser, viewer.url)
    yield p
    p.context.close()
    assert p.errors == [], p.errors


@pytest.fixture(scope="module")
def programs(filled: FilledStore):
    with Store(filled.url) as store:
        return store.programs(filled.run_id), store.strategy_state(filled.run_id)


def test_runs_page_lists_runs_and_sorts_by_a_clicked_column(page, filled, screenshots):
    page.open("#/")
    rows = page.page.locator(".runs-table tbody tr")
    rows.nth(1).wait_for()
    assert rows.count() == 2
    header = page.page.locator(".runs-table th", has_text="evaluations")
    header.click()  # numbers sort largest first
    evaluations = lambda: [t.strip() for t in page.page.locator(".runs-table tbody tr td:nth-child(5)").all_inner_texts()]
    assert evaluations() == ["30", "6"]
    header.click()
    assert evaluations() == ["6", "30"]
    page.page.screenshot(path=screenshots / "runs.png", full_page=True)
    page.page.locator(f'.runs-table tbody tr[data-run="{filled.run_id}"] a').click()
    page.page.locator("#fitness canvas").first.wait_for()
    assert filled.run_id in page.page.locator(".run-header .meta").inner_text()


def test_run_page_draws_the_grid_the_tree_and_the_fitness_chart(page, filled, programs, screenshots):
    progs, state = programs
    page.open(f"#/run/{filled.run_id}")
    page.page.locator("svg.tree g.node").first.wait_for()
    cells = {tuple(e["cell"]) for e in state["elites"]}
    assert page.page.locator("svg.heatmap rect.cell.filled").count() == len(cells)
    total_cells = 1
    for n in state["shape"]:
        total_cells *= n
    assert page.page.locator("svg.heatmap rect.cell").count() == total_cells
    nodes = page.page.locator("svg.tree g.node")
    assert nodes.count() == len(progs)
    failed = sum(p.status in Status.FAILED for p in progs)
    assert page.page.locator("svg.tree g.node.failed").count() == failed > 0
    best_path = page.page.locator("svg.tree g.node.best").count()
    assert best_path >= 2 and page.page.locator("svg.tree path.link.best").count() == best_path - 1
    groups = [{"correct"}, {"wrong"}, {"build_failed"}, {"apply_failed"}, {"error", "timeout"}, {"duplicate"}]
    present = sum(any(p.status in g for p in progs) for g in groups)
    assert page.page.locator("#fitness .u-legend .u-series:visible").count() == 1 + present  # + best so far
    chips = page.page.locator(".chips .chip").all_inner_texts()
    assert len(chips) == len({p.status for p in progs})
    page.page.screenshot(path=screenshots / "run.png", full_page=True)
    page.page.locator("#search").screenshot(path=screenshots / "run_grid.png")
    page.page.locator("#lineage").screenshot(path=screenshots / "run_tree.png")


def test_clicking_a_grid_cell_shows_its_elite_and_leads_to_the_program(page, filled, programs):
    _, state = programs
    page.open(f"#/run/{filled.run_id}")
    best = max(state["elites"], key=lambda e: e["fitness"])
    page.page.locator("svg.heatmap rect.cell.filled").first.wait_for()
    cell = f"{best['cell'][0]},{best['cell'][1] if len(best['cell']) > 1 else 0}"  # a 1-D grid is drawn as one row
    page.page.locator(f'svg.heatmap rect.cell.filled[data-cell="{cell}"]').click()
    link = page.page.locator(".heatmap-info .elite a").first
    assert link.get_attribute("title") == best["program_id"]
    link.click()
    page.page.locator(".tabs .tab.active").wait_for()
    assert best["program_id"][:8] in page.page.locator("h1").inner_text()


def test_clicking_through_to_a_program_shows_its_diff_against_the_parent(page, filled, programs, screenshots):
    progs, _ = programs
    by_id = {p.id: p for p in progs}
    child = next(p for p in progs if p.status == Status.CORRECT and p.parent_id and p.source != by_id[p.parent_id].source)
    page.open(f"#/run/{filled.run_id}")
    page.page.locator(".programs-table tbody tr").first.wait_for()
    page.page.locator(f'.programs-table tbody a[title="{child.id}"]').first.click()
    page.page.locator(".tab[data-tab=diff]").click()
    panel = page.page.locator("[data-panel=diff]")
    panel.locator("tr.add").first.wait_for()
    added = panel.locator("tr.add td.dl").all_inner_texts()
    removed = panel.locator("tr.del td.dl").all_inner_texts()
    assert added and all(line in child.source.splitlines() for line in added)
    assert all(line in by_id[child.parent_id].source.splitlines() for line in removed)
    page.page.screenshot(path=screenshots / "program_diff.png", full_page=True)
    page.page.locator(".tab[data-tab=evaluation]").click()
    assert page.page.locator("[data-panel=evaluation] tbody tr").count() >= 1
    page.page.locator(".tab[data-tab=llm]").click()
    assert page.page.locator("[data-panel=llm] .role-answer pre").inner_text().strip()
    page.page.locator(".tab[data-tab=compare]").click()
    page.page.locator("[data-panel=compare] input").fill(progs[0].id[:8])
    page.page.locator("[data-panel=compare] button[type=submit]").click()
    page.page.locator("[data-panel=compare] .diff").wait_for()
    assert progs[0].id[:8] in page.page.locator("[data-panel=compare] .compare-out p").first.inner_text()


def test_a_hostile_programs_source_and_answer_show_as_text(page, filled, programs, screenshots):
    progs, _ = programs
    hostile = next(p for p in progs if MARKUP in p.source)
    page.open(f"#/run/{filled.run_id}/program/{hostile.id}")
    source = page.page.locator(".code .src")
    source.wait_for()
    assert MARKUP in source.inner_text()
    page.page.locator(".tab[data-tab=llm]").click()
    assert MARKUP in page.page.locator("[data-panel=llm] .role-answer pre").inner_text()
    assert page.page.evaluate("window.__pwned") is None
    assert page.page.locator("#app img, #app b, #app script").count() == 0
    page.page.locator(".tab[data-tab=source]").click()
    page.page.screenshot(path=screenshots / "program_hostile.png", full_page=True)


def test_clicking_a_tree_node_opens_that_program(page, filled, programs):
    progs, _ = programs
    page.open(f"#/run/{filled.run_id}")
    node = page.page.locator("svg.tree g.node.best").last
    node.wait_for()
    node.dispatch_event("click")
    page.page.locator(".tabs").wait_for()
    best = max((p for p in progs if p.status == Status.CORRECT), key=lambda p: p.fitness)
    assert best.id[:8] in page.page.locator("h1").inner_text()
