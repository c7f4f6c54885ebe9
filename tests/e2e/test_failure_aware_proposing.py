"""Failure-aware proposing through `agent evolve` (issue 20): the fake OpenAI server over real HTTP
answers as a stubborn model does; the run changes what can change the outcome, or fails with one line."""

from __future__ import annotations

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.fakes.behaviours import BEHAVIOURS, unusable_answer
from tests.fakes.openai_server import FakeOpenAIServer

MODEL = "openai/fake-coder"


def evolve(tmp_path, responder, evaluations: int, exit_code: int = 0):
    task = copy_task(tmp_path)
    task.write_text(task.read_text().replace("  strategy: map_elites", "  strategy: pq") + "llm:\n  concurrency: 1\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(responder)
        proc = run_agent("evolve", str(task), "--store", url, "--model", MODEL, "--api-base", server.url,
                         "--evaluations", str(evaluations), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == exit_code, proc.stderr[-3000:]
    summary = only_run(url)
    with Store(url) as store:
        programs = store.programs(summary.run.id)
    return proc, summary, programs


def test_a_model_that_cannot_write_search_replace_blocks_is_asked_for_whole_programs(tmp_path):
    _, summary, programs = evolve(tmp_path, BEHAVIOURS["stubborn"](), evaluations=8)
    assert summary.run.status == "finished" and summary.evaluated == 8
    unapplied = [p for p in programs if p.status == Status.APPLY_FAILED]
    assert len(unapplied) == 1  # its first answer; then its format is switched, for every parent
    assert all(p.proposal["answer_format"] == "full" for p in programs if p.status in Status.EVALUATED and p.parent_id)


def test_a_model_that_fails_the_same_way_whatever_it_is_asked_fails_the_run_with_one_line(tmp_path):
    answer = unusable_answer("    print(X)", "    print(X + 0)")
    proc, summary, programs = evolve(tmp_path, lambda request: answer, 8, exit_code=1)
    unapplied = [p for p in programs if p.status == Status.APPLY_FAILED]
    assert summary.run.status == "failed" and summary.evaluated == 1
    assert summary.run.notes.startswith("stopped: 5 proposals in a row for program "), summary.run.notes
    errors = proc.stderr.strip().splitlines()
    assert errors[-1] == f"error: {summary.run.notes}" and "Traceback" not in proc.stderr
    best = next(line for line in proc.stdout.splitlines() if line.startswith("best so far: "))
    assert f"(program {programs[0].id[:8]}, of 1 evaluated)" in best  # the initial program, correct
    assert best.endswith(f"agent export {summary.run.id[:8]} --store sqlite:///{tmp_path / 'store.db'}")
    assert len(unapplied) < 40  # what the fruitless guard allowed before
