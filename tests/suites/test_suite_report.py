"""The suite report and comparison, from a store built by hand with the real Store API."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from agent.suites.compare import build_comparison, render_comparison
from agent.suites.render import (
    NOT_TIMED, format_for, render, render_html, render_json, render_markdown, render_terminal, report_dict,
)  # fmt: skip
from agent.suites.report import build_report
from archives.records import EvalResult, LLMCall, Program, Suite, SuiteProblem
from archives.store import Store, StoreError

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>alert("x")</script>'


def _run(store: Store, task: str, programs: list[tuple[str, dict, str | None]], cost: float = 0.0) -> str:
    """A run of `task` whose programs were judged as given: (status, metrics, error) each."""
    run = store.create_run(task, f"suites/{task}/task.yaml", "map_elites", 0, {})
    for i, (status, metrics, error) in enumerate(programs):
        program = store.add_program(Program(id=uuid.uuid4().hex, run_id=run.id, source=f"x = {i}\n"))
        fitness = metrics.get("speedup", 0.0) if status == "correct" else None
        store.finish_program(program.id, EvalResult(status, fitness=fitness, metrics=metrics, error=error))
    if cost:
        store.add_llm_call(LLMCall(id=uuid.uuid4().hex, run_id=run.id, model="m", prompt="[]", cost=cost))
    return run.id


def _problem(store: Store, suite: str, name: str, status: str, run_id: str | None = None, reason: str | None = None):
    store.put_suite_problem(SuiteProblem(suite=suite, name=name, source=f"kb/{name}.py", status=status,
                                         run_id=run_id, reason=reason))


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'suites.db'}") as store:
        _main_suite(store)
        yield store


def _main_suite(store: Store) -> None:
    store.add_suite(Suite("level1", {"language": "triton", "evaluations": 20, "model": "m"}))
    fast = _run(store, "fast_relu", [
        ("correct", {"speedup": 1.0, "runtime_ms": 0.05}, None),
        ("correct", {"speedup": 2.5, "speedup_vs_compile": 1.5, "runtime_ms": 0.02, "roofline_fraction": 0.4}, None),
        ("wrong", {}, "correctness: trial 1: off by 3"),
    ], cost=0.25)
    _problem(store, "level1", "fast_relu", "finished", fast)
    slow = _run(store, "slow_conv", [("correct", {"speedup": 1.1, "speedup_vs_compile": 0.8, "runtime_ms": 3.0}, None)],
                cost=0.5)
    _problem(store, "level1", "slow_conv", "finished", slow)
    untimed = _run(store, "cpu_only", [("correct", {"launches": 1.0}, None)])
    _problem(store, "level1", "cpu_only", "finished", untimed)
    wrong = _run(store, "all_wrong", [
        ("build_failed", {}, "compile: nvcc said no"),
        ("wrong", {}, "correctness: trial 2: max error 0.5\nmore detail"),
        ("build_failed", {}, "compile: later, but less far"),
    ], cost=0.125)
    _problem(store, "level1", "all_wrong", "finished", wrong)
    _problem(store, "level1", "no_ref", "cannot_run", reason="the reference raised RuntimeError: needs CUDA")
    crashed = _run(store, "crashed", [("correct", {"speedup": 3.0}, None)])
    _problem(store, "level1", "crashed", "failed", crashed, reason="evolve exited 1: boom")
    _problem(store, "level1", "later", "pending")
    going = _run(store, "going", [("correct", {"speedup": 1.3, "runtime_ms": 1.0}, None)])
    _problem(store, "level1", "going", "running", going)
    _problem(store, "level1", HOSTILE, "cannot_run", reason='bad <b>"reference"</b> & more')
    spent = _run(store, "bad_task", [("build_failed", {}, "compile: no")], cost=0.0625)
    _problem(store, "level1", "bad_task", "cannot_run", spent, reason="evolve exited 2: kernel.shape: bad")
    _problem(store, "level1", "lost", "finished", "0123456789abcdef")  # its run was deleted


def test_every_problem_is_a_row_with_its_numbers_or_why_it_has_none(store):
    report = build_report(store, "level1")
    rows = {r.name: r for r in report.rows}
    assert [r.name for r in report.rows] == sorted(rows)  # name order, none dropped
    assert report.problems == len(rows) == 11
    fast = rows["fast_relu"]
    assert (fast.correct, fast.why, fast.status, fast.timed) == (True, None, "finished", True)
    assert (fast.speedup_eager, fast.speedup_compile, fast.runtime_ms, fast.roofline_fraction) == (2.5, 1.5, 0.02, 0.4)
    assert fast.best_program_id == store.best_programs(fast.run_id, 1)[0].id
    assert (fast.evaluations, fast.dollars) == (3, 0.25)
    untimed = rows["cpu_only"]
    assert untimed.correct and not untimed.timed and untimed.speedup_eager is None and untimed.runtime_ms is None
    wrong = rows["all_wrong"]
    assert not wrong.correct and wrong.why == "best attempt wrong: correctness: trial 2: max error 0.5"
    assert (wrong.evaluations, wrong.dollars, wrong.best_program_id) == (3, 0.125, None)
    assert rows["no_ref"].why == "the reference raised RuntimeError: needs CUDA" and not rows["no_ref"].correct
    crashed = rows["crashed"]  # its run found a correct program, but a failed problem never counts
    assert not crashed.correct and crashed.why == "evolve exited 1: boom" and crashed.speedup_eager is None
    assert crashed.evaluations == 1
    assert (rows["later"].correct, rows["later"].why, rows["later"].run_id) == (False, "not run yet", None)
    assert rows["going"].correct and rows["going"].speedup_eager == 1.3
    bad = rows["bad_task"]  # could not run, but what its run spent is counted
    assert (bad.correct, bad.why) == (False, "evolve exited 2: kernel.shape: bad")
    assert (bad.evaluations, bad.dollars) == (1, 0.0625)
    assert rows["lost"].why == "its run 0123456789abcdef is not in the store" and not rows["lost"].correct


def test_overall_figures_count_every_problem(store):
    report = build_report(store, "level1")
    assert report.correct == 4  # fast_relu, slow_conv, cpu_only, going
    assert report.statuses == {"pending": 1, "running": 1, "finished": 5, "cannot_run": 3, "failed": 1}
    assert report.fast["eager"] == {"1": 3 / 11, "1.2": 2 / 11, "2": 1 / 11}  # 2.5, 1.1, 1.3 of all 11
    assert report.fast["compile"] == {"1": 1 / 11, "1.2": 1 / 11, "2": 0.0}  # 1.5 and 0.8
    assert report.geomean_speedup["eager"] == pytest.approx((2.5 * 1.1 * 1.3) ** (1 / 3))
    assert report.geomean_speedup["compile"] == pytest.approx(math.sqrt(1.5 * 0.8))
    assert report.dollars == pytest.approx(0.9375) and report.evaluations == 3 + 1 + 1 + 3 + 1 + 1 + 1


def test_a_suite_where_nothing_was_timed_has_no_fast_p_rather_than_zero(tmp_path):
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.add_suite(Suite("cpu"))
        _problem(store, "cpu", "a", "finished", _run(store, "a", [("correct", {}, None)]))
        _problem(store, "cpu", "b", "cannot_run", reason="needs a GPU")
        report = build_report(store, "cpu")
    assert report.correct == 1 and report.fast == {b: {"1": None, "1.2": None, "2": None} for b in ("eager", "compile")}
    assert report.geomean_speedup == {"eager": None, "compile": None}
    assert NOT_TIMED in render_terminal(report) and NOT_TIMED in render_markdown(report)
    assert json.loads(render_json(report))["fast"]["eager"]["2"] is None


def test_an_unknown_suite_is_one_line_naming_the_known_ones(store):
    with pytest.raises(StoreError, match="no suite 'nope' .*suites there: level1") as caught:
        build_report(store, "nope")
    assert "\n" not in str(caught.value)


def test_the_renderers_show_the_figures_and_html_escapes_every_value(store):
    report = build_report(store, "level1")
    terminal = render_terminal(report)
    assert "suite level1: problems 11, correct 4 (36.4%)" in terminal and "dollars $0.94" in terminal
    lines = {line.split("  ")[0]: line.split() for line in terminal.splitlines()}
    assert lines["eager"][1:] == ["27.3%", "18.2%", "9.1%", "1.53x"]
    assert lines["torch.compile"][1:] == ["9.1%", "9.1%", "0.0%", "1.1x"]
    markdown = render_markdown(report)
    assert "| fast_relu | finished | yes | 0.02 | 2.5x | 1.5x | 40.0% | 3 | $0.25 |" in markdown
    assert "| cpu_only | finished | yes | - | - | - | - | 1 | $0.00 |" in markdown
    assert "| correct; not timed (no GPU) |" in markdown
    assert "best attempt wrong: correctness: trial 2: max error 0.5" in markdown
    assert "\\<script\\>" in markdown and "<script>" not in markdown  # escaped in a markdown cell too
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "&lt;b&gt;&quot;reference&quot;" in page
    assert "http" not in page  # self-contained: nothing fetched
    data = json.loads(render_json(report))
    assert data == json.loads(json.dumps(report_dict(report)))
    assert data["suite"]["name"] == "level1" and data["suite"]["config"]["evaluations"] == 20
    assert data["correct"] == 4 and data["fast"]["eager"]["1"] == pytest.approx(3 / 11)
    assert {r["name"] for r in data["rows"]} >= {HOSTILE, "later"} and len(data["rows"]) == 11
    assert render(report, format_for("out/report.HTML")) == page
    with pytest.raises(ValueError, match="report.txt: unknown report format '.txt'"):
        format_for("report.txt")


def test_two_suites_side_by_side_with_their_differences(store):
    store.add_suite(Suite("other", {"model": "big<model>"}))
    _problem(store, "other", "fast_relu", "finished", _run(store, "fast_relu", [("correct", {"speedup": 5.0}, None)]))
    _problem(store, "other", "slow_conv", "failed", reason="killed")
    _problem(store, "other", "only_b", "finished", _run(store, "only_b", [("correct", {"speedup": 1.5}, None)], 1.0))
    comparison = build_comparison(store, "level1", "other")
    pairs = {p.name: p for p in comparison.pairs}
    assert set(pairs) == {r.name for r in comparison.a.rows} | {"only_b"}
    assert pairs["fast_relu"].gain == pytest.approx(2.0) and pairs["slow_conv"].gain is None
    assert pairs["only_b"].a is None and pairs["no_ref"].b is None
    figures = {f.name: f for f in comparison.figures}
    assert figures["correct"].difference == pytest.approx(2 / 3 - 4 / 11)
    assert figures["fast_2 over eager"].difference == pytest.approx(1 / 3 - 1 / 11)
    assert figures["fast_1 over torch.compile"].b is None and figures["fast_1 over torch.compile"].difference is None
    assert figures["dollars"].difference == pytest.approx(1.0 - 0.9375)
    markdown = render_comparison(comparison, "markdown")
    assert "| correct | 36.4% | 66.7% | +30.3 pt |" in markdown
    assert "| fast_relu | yes | yes | 2.5x | 5x | 2x |" in markdown and "| only_b | not in suite | yes |" in markdown
    assert "| slow_conv | yes | no (failed) |" in markdown
    assert "A run with: language triton, evaluations 20, model m" in markdown
    assert "B run with: model big\\<model\\>" in markdown
    page = render_comparison(comparison, "html")
    assert "<script" not in page and "&lt;script&gt;" in page and "model big&lt;model&gt;" in page
    data = json.loads(render_comparison(comparison, "json"))
    assert data["a"]["suite"]["name"] == "level1" and data["b"]["problems"] == 3
    assert {p["name"] for p in data["problems"] if p["b"] is None} >= {"no_ref", "later"}
    assert "dollars" in render_comparison(comparison, "terminal")


def _agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=180,
                          cwd=ROOT)


def test_the_report_and_compare_commands_write_each_format(tmp_path):
    url = f"sqlite:///{tmp_path / 'suites.db'}"
    with Store(url) as store:
        _main_suite(store)
        store.add_suite(Suite("other"))
        _problem(store, "other", "later", "pending")
    shown = _agent("suite", "report", "level1", "--store", url)
    assert shown.returncode == 0 and "| fast_relu | finished | yes |" in shown.stdout
    for suffix in ("html", "json", "md"):
        done = _agent("suite", "report", "level1", "--store", url, "--out", str(tmp_path / f"r.{suffix}"))
        assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["problems"] == 11
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    compared = _agent("suite", "compare", "level1", "other", "--store", url)
    assert compared.returncode == 0 and "| later | no (pending) | no (pending) |" in compared.stdout
    unknown = _agent("suite", "report", "nope", "--store", url)
    assert unknown.returncode != 0 and "no suite 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr
