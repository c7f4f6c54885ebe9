"""The viewer follows a run while it is written to, and `agent report` writes a page that
shows the same views offline, from a file, under a CSP that lets only its own scripts run."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from playwright.sync_api import expect

from archives.records import EvalResult, Program, StageResult, Status
from archives.store import Store
from tests.viewer.conftest import Page, ViewerProcess
from tests.viewer.run_fixture import MARKUP, FilledStore


def add_evaluated(store: Store, run_id: str, parent: Program | None, fitness: float | None, metrics: dict | None = None) -> Program:
    program = store.add_program(
        Program(id=uuid.uuid4().hex, run_id=run_id, source=f"X = {fitness}\n", parent_id=parent.id if parent else None,
                generation=parent.generation + 1 if parent else 0, proposer="tuner" if parent else "initial")
    )  # fmt: skip
    status = Status.CORRECT if fitness is not None else Status.WRONG
    stage = StageResult("evaluate", fitness is not None, 0.01, "ok" if fitness is not None else "rejected")
    error = None if fitness is not None else "rejected"
    return store.finish_program(program.id, EvalResult(status, fitness=fitness, metrics=metrics or {}, error=error, stages=(stage,)))


def test_a_running_run_refreshes_its_page_as_programs_arrive(tmp_path, browser, screenshots):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with Store(url) as store:
        run = store.create_run("live_task", str(tmp_path / "task.yaml"), "map_elites", 0, {"kind": "program"})
        root = add_evaluated(store, run.id, None, -10.0)
    server = ViewerProcess(url, tmp_path)
    page = Page(browser, server.url)
    try:
        page.open(f"#/run/{run.id}")
        evaluations = page.page.locator('.card[data-card="evaluations"] .card-value')
        page.page.locator("svg.tree g.node").first.wait_for()
        assert evaluations.inner_text().strip() == "1"
        assert page.page.locator("svg.tree g.node").count() == 1
        with Store(url) as store:
            child = add_evaluated(store, run.id, root, -4.0)
            add_evaluated(store, run.id, child, -1.0)
            add_evaluated(store, run.id, child, None)
            store.set_run_status(run.id, "finished")
        expect(page.page.locator("svg.tree g.node")).to_have_count(4, timeout=15_000)
        assert evaluations.inner_text().strip() == "4"
        assert "finished" in page.page.locator("h1 .run-badge").inner_text()
        assert page.page.locator("svg.tree g.node.failed").count() == 1
        page.page.screenshot(path=screenshots / "live_after_refresh.png", full_page=True)
        assert page.errors == [], page.errors
    finally:
        page.context.close()
        server.stop()


def write_report(filled: FilledStore, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "report", filled.run_id[:8], "--db", filled.url, "--out", str(out), *extra],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_report_is_one_self_contained_file_whose_csp_allows_only_its_own_scripts(filled, tmp_path):
    out = tmp_path / "report.html"
    proc = write_report(filled, out)
    assert proc.returncode == 0, proc.stderr
    assert f"run {filled.run_id[:8]} -> {out}" in proc.stdout
    html = out.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing loads from elsewhere
    assert '<script src=' not in html and '<link rel="stylesheet"' not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    allowed = set(re.findall(r"'sha256-([^']+)'", csp.replace("&#x27;", "'")))
    assert len(scripts) >= 10 and allowed == {base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in scripts}
    assert "<script>window.__pwned" not in html  # the hostile source is escaped inside the data block


def test_report_opened_from_a_file_shows_the_run_and_the_hostile_program_as_text(filled, browser, tmp_path, screenshots):
    out = tmp_path / "report.html"
    assert write_report(filled, out).returncode == 0
    with Store(filled.url) as store:
        programs = store.programs(filled.run_id)
    hostile = next(p for p in programs if MARKUP in p.source)
    page = Page(browser, out.as_uri())
    try:
        page.open("")
        page.page.locator("svg.tree g.node").first.wait_for()
        assert page.page.locator("svg.tree g.node").count() == len(programs)
        assert page.page.locator("svg.heatmap rect.cell.filled").count() > 0
        assert "report" in page.page.locator("#mode").inner_text()
        page.page.screenshot(path=screenshots / "report_run.png", full_page=True)
        page.page.locator("#programs select").first.select_option("wrong")
        wrong = sum(p.status == Status.WRONG for p in programs)
        expect(page.page.locator(".programs-table tbody tr")).to_have_count(wrong)
        assert all("wrong" in row for row in page.page.locator(".programs-table tbody tr").all_inner_texts())
        page.open(f"#/run/{filled.run_id}/program/{hostile.id}/diff")
        page.page.locator("[data-panel=diff] .diff").wait_for()
        page.page.locator(".tab[data-tab=source]").click()
        assert MARKUP in page.page.locator(".code .src").inner_text()
        assert page.page.evaluate("window.__pwned") is None
        assert page.errors == [], page.errors
    finally:
        page.context.close()


def test_report_of_an_unknown_run_is_one_line_and_exit_code_2(filled, tmp_path):
    proc = write_report(FilledStore(filled.url, "zzzzzzzz", filled.folder), tmp_path / "r.html")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "no run" in proc.stderr
    assert not (tmp_path / "r.html").exists()


def test_mcts_pq_and_unknown_snapshots_show_as_tables_and_kernel_metrics_get_a_panel(tmp_path, browser, screenshots):
    url = f"sqlite:///{tmp_path / 'strategies.db'}"
    with Store(url) as store:
        runs = {}
        for kind in ("mcts", "pq", "novelty_search"):
            run = store.create_run(f"{kind}_task", "/t.yaml", kind, 0, {})
            root = add_evaluated(store, run.id, None, -3.0)
            kernel = {"speedup": 1.84, "speedup_vs_compile": 1.12, "roofline_fraction": 0.63, "ncu_sm_pct": 55.0}
            child = add_evaluated(store, run.id, root, -1.0, kernel if kind == "mcts" else None)
            if kind == "mcts":
                rows = [{"id": p.id, "parent": p.parent_id, "visits": v, "q": q, "children": []} for p, v, q in ((root, 5, -1.5), (child, 9, -1.0))]
                state = {"kind": "mcts", "root": root.id, "nodes": rows, "told": 2}
            elif kind == "pq":
                rows = [{"program_id": p.id, "mean": p.fitness, "upper": p.fitness + 1} for p in (child, root)]
                state = {"kind": "pq", "epsilon": 0.1, "members": rows, "stats": {"told": 2}}
            else:
                state = {"kind": kind, "archive": [{"program_id": child.id, "novelty": 0.7}], "settings": {"k": 15}}
            store.set_strategy_state(run.id, state)
            store.set_run_status(run.id, "finished")
            runs[kind] = (run, root, child)
    server = ViewerProcess(url, tmp_path)
    page = Page(browser, server.url)
    try:
        run, root, child = runs["mcts"]
        page.open(f"#/run/{run.id}")
        table = page.page.locator("#search .grid-table")
        table.first.wait_for()
        assert "MCTS" in page.page.locator("#search").inner_text()
        first_row = table.first.locator("tbody tr").first
        assert first_row.locator("a").first.get_attribute("title") == child.id  # most visits first
        page.page.locator("#search").screenshot(path=screenshots / "strategy_mcts.png")
        assert "1.84×" in page.page.locator('.card[data-card="best speedup vs eager"]').inner_text()
        first_row.locator("a").first.click()
        panel = page.page.locator("#kernel")
        panel.wait_for()
        assert "1.84×" in panel.inner_text() and "1.12×" in panel.inner_text() and "63 %" in panel.inner_text()
        assert "ncu_sm_pct" in panel.inner_text()
        page.page.screenshot(path=screenshots / "program_kernel.png", full_page=True)
        run, root, child = runs["pq"]
        page.open(f"#/run/{run.id}")
        page.page.locator("#search .grid-table").first.wait_for()
        assert "Priority queue" in page.page.locator("#search").inner_text()
        assert page.page.locator("#search .grid-table tbody tr").count() == 2
        run, root, child = runs["novelty_search"]
        page.open(f"#/run/{run.id}")
        page.page.locator("#search .grid-table").first.wait_for()
        text = page.page.locator("#search").inner_text().lower()
        assert "novelty_search" in text and "settings" in text and "15" in text
        assert page.page.locator("#search a").first.get_attribute("title") == child.id
        assert page.errors == [], page.errors
    finally:
        page.context.close()
        server.stop()
