"""Every search strategy end to end: `agent evolve --strategy S` against the fake LLM server over
real HTTP, stopped after part of the budget and resumed from the store to the end."""

from __future__ import annotations

import itertools
import json

import pytest

from archives.records import Status
from archives.repeats import FITNESS_EVALS
from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent
from tests.e2e.test_evolve_with_llm import PROGRAM, current_x
from tests.fakes.openai_server import FakeOpenAIServer, Reply

SUMMARY_MARK = "keeps a memory of its most promising"

# strategy -> how every reason it records starts
REASONS = {
    "map_elites": ("initial program", "exploit:", "explore:"),
    "pq": ("pq: ",),
    "mcts": ("mcts: path ",),
    "pareto": ("pareto: ",),
    "greedy": ("greedy: ",),
    "best_of_n": ("best_of_n: always the initial program",),
}


def responder():
    """Answers like an LLM: moves the parent's X towards 3 (never twice the same way), in both
    edit formats, with an edit that does not apply now and then; summary requests get advice."""
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        if SUMMARY_MARK in request["messages"][-1]["content"]:
            return Reply("- Move X closer to 3.\n- Try values just above 2.9.\n")
        k = next(counter)
        x = current_x(request)
        new = round(x + (3.0 - x) * 0.5 + 0.001 * k, 6)
        if k % 6 == 5:
            return Reply("Rename.\n<<<<<<< SEARCH\nY = 1\n=======\nY = 2\n>>>>>>> REPLACE\n")
        if k % 4 == 2:
            return Reply(f"Move X.\n```python\n{PROGRAM.format(x=new)}```\n")
        return Reply(f"Move X.\n<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n")

    return respond


@pytest.mark.parametrize("strategy", sorted(REASONS))
def test_strategy_runs_end_to_end_and_resumes_from_the_store(tmp_path, strategy):
    task = copy_task(tmp_path)
    if strategy == "pq":  # summaries every 3 evaluations, so a short run makes some
        task.write_text(task.read_text().replace("search:\n", "search:\n  pq: {summarize_every: 3}\n"))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    common = ("--model", "openai/fake-coder", "--store", url, "-q")
    with FakeOpenAIServer() as server:
        server.set_responder(responder())
        first = run_agent("evolve", str(task), "--strategy", strategy, "--evaluations", "6", *common,
                          "--api-base", server.url, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        second = run_agent("evolve", str(task), "--resume", "--evaluations", "12", *common,
                           "--api-base", server.url, cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        prompts = [r["messages"][-1]["content"] for r in server.requests]
    summary = only_run(url)
    assert summary.run.strategy == strategy and summary.run.status == "finished"
    assert_lineage_is_whole(url, summary.run.id)
    with Store(url) as store:
        programs = store.programs(summary.run.id)
        reasons = [store.reason_of(p.id) for p in programs]
        state = store.strategy_state(summary.run.id)
        calls = store.llm_calls(summary.run.id)
        best = store.best_programs(summary.run.id, 1)[0]
    evaluations = sum(int(p.metrics.get(FITNESS_EVALS, 1)) for p in programs if p.status in Status.EVALUATED)
    assert evaluations == 12  # the budget, repeats included, over both sessions
    assert reasons[0] == "initial program"
    assert all(r.startswith(REASONS[strategy]) for r in reasons[1:]), reasons
    assert state["kind"] == strategy
    assert best.fitness > programs[0].fitness and best.proposer == "llm:openai/fake-coder"
    if strategy == "best_of_n":
        assert {p.parent_id for p in programs[1:]} == {programs[0].id}
    if strategy == "mcts":
        nodes = {n["id"]: n for n in state["nodes"]}
        evaluated = [p for p in programs if p.status in Status.EVALUATED]
        assert set(nodes) == {p.id for p in evaluated} and nodes[state["root"]]["visits"] == len(evaluated)
    if strategy == "pq":
        # Evaluations are deterministic: one probe repeat, then none; summaries reach the prompts.
        assert [p.metrics.get(FITNESS_EVALS) for p in programs if p.metrics.get(FITNESS_EVALS)] == [2.0]
        summaries = [c for c in calls if SUMMARY_MARK in json.loads(c.prompt)[-1]["content"]]
        assert summaries and all(c.program_id is None and c.error is None for c in summaries)
        assert any("# Recommendations\n- Move X closer to 3." in p for p in prompts)
        assert state["members"] and state["noise_sd"] == 0.0
