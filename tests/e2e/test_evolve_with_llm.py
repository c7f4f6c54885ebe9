"""A whole `agent evolve` run against a fake OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

PROGRAM = """# EVOLVE-BLOCK-START
X = {x!r}
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
"""


def current_x(request: dict) -> float:
    """The X of the parent program shown under '# Current program' in the prompt."""
    user = request["messages"][-1]["content"]
    current = user.split("# Current program", 1)[1]
    return float(re.search(r"^X = (\S+)$", current, re.M).group(1))


def rewriting_responder():
    """Answers like an LLM would: mostly good edits in both formats, some edits that don't apply."""
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        k = next(counter)
        x = current_x(request)
        new = round(x + (3.0 - x) * 0.5 + 0.01 * (k % 7), 6)
        if k % 6 == 5:
            return Reply("Rename a variable.\n<<<<<<< SEARCH\nY = 1\n=======\nY = 2\n>>>>>>> REPLACE\n")
        if k % 4 == 2:
            return Reply(f"Move X towards 3.\n```python\n{PROGRAM.format(x=new)}```\n")
        return Reply(f"Move X towards 3.\n<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n")

    return respond


def test_llm_run_records_children_with_parents_prompts_and_feedback(tmp_path):
    task = copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(rewriting_responder())
        proc = run_agent(
            "evolve", str(task), "--model", "openai/fake-coder", "--api-base", server.url,
            "--store", url, "--evaluations", "24", "-q", cwd=tmp_path,
        )
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr
    summary = only_run(url)
    assert summary.evaluated == 24
    assert summary.run.status == "finished"
    assert_lineage_is_whole(url, summary.run.id)

    with Store(url) as store:
        programs = store.programs(summary.run.id)
        calls = store.llm_calls(summary.run.id)
        by_id = {p.id: p for p in programs}
        initial = programs[0]
        best = store.best_programs(summary.run.id, 1)[0]
    # Every request reached the store as a call linked to the program it produced.
    assert len(calls) == len(requests) >= 23
    assert all(c.program_id in by_id and c.error is None for c in calls)
    # The search found better programs than the initial one through the LLM's edits.
    assert best.fitness > initial.fitness and best.proposer == "llm:openai/fake-coder"
    assert {p.status for p in programs} >= {Status.CORRECT, Status.APPLY_FAILED}
    # Each prompt carries its parent's source and the evaluator's feedback on the parent.
    for call in calls:
        child = by_id[call.program_id]
        parent = by_id[child.parent_id]
        prompt = json.loads(call.prompt)[-1]["content"]
        assert parent.source.strip() in prompt
        if parent.feedback:
            assert "X was" in prompt
    # An edit that did not apply is recorded with its error, and that error reaches the
    # next prompt written for the same parent.
    failed = [p for p in programs if p.status == Status.APPLY_FAILED]
    assert failed and all("did not apply" in p.error for p in failed)
    carried = 0
    for child in failed:
        later = [c for c in calls if by_id[c.program_id].parent_id == child.parent_id and by_id[c.program_id].seq > child.seq]
        carried += any(child.error.splitlines()[0] in json.loads(c.prompt)[-1]["content"] for c in later)
    assert carried >= 1


def test_dollar_budget_stops_the_run_and_the_spend_is_recorded(tmp_path):
    task = copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    rewrite = rewriting_responder()
    with FakeOpenAIServer() as server:
        # gpt-4o-mini has a price in litellm's local cost map; answers billed as 4000 tokens
        # cost about $0.0024 each, and each call reserves its worst case (4096 tokens) first.
        server.set_responder(lambda request: dataclasses.replace(rewrite(request), completion_tokens=4000))
        proc = run_agent(
            "evolve", str(task), "--model", "openai/gpt-4o-mini", "--api-base", server.url,
            "--store", url, "--evaluations", "50", "--dollars", "0.01", cwd=tmp_path,
        )
    assert proc.returncode == 0, proc.stderr
    assert "budget: dollars" in proc.stderr
    summary = only_run(url)
    assert summary.evaluated < 50
    assert 0.005 <= summary.cost <= 0.01
    assert summary.llm_calls == len(server.requests)
