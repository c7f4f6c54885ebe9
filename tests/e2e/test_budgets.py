"""The wall and dollar budgets hold with LLM calls in flight: `agent evolve` as a subprocess
against the fake OpenAI server over real HTTP."""

from __future__ import annotations

import itertools
import time

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

PROGRAM = '# EVOLVE-BLOCK-START\nX = {x!r}\n# EVOLVE-BLOCK-END\n\nif __name__ == "__main__":\n    print(X)\n'


def test_the_wall_budget_cancels_calls_to_a_server_that_never_answers(tmp_path):
    task = copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # The preflight's probe is answered (the fake answers it itself); every proposal then hangs,
    # well past litellm's timeout of 120 s and its retries.
    with FakeOpenAIServer([Reply(delay=600)]) as server:
        started = time.monotonic()
        proc = run_agent("evolve", str(task), "--model", "openai/fake-coder", "--api-base", server.url,
                         "--store", url, "--wall-seconds", "20", "-q", cwd=tmp_path, timeout=300)
        seconds = time.monotonic() - started
        requests = server.requests
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "budget: wall time" in proc.stderr
    # 20 s of wall budget, plus starting Python, litellm and the sandbox on a loaded machine;
    # before the fix a hanging call held the run for 4 x 120 s.
    assert seconds < 20 + 40, seconds
    assert requests, "the proposals did ask the server"
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 1
    assert_lineage_is_whole(url, summary.run.id)


def test_the_dollar_budget_is_not_overspent_and_what_was_paid_for_is_evaluated(tmp_path):
    task = copy_task(tmp_path)
    # openai/gpt-4 costs $30 / $60 per million input / output tokens (litellm's local price map):
    # answers billed as 4900 completion tokens cost about $0.30 each; each call first reserves
    # its worst case, a 5000-token answer (about $0.31 with its prompt).
    task.write_text(task.read_text() + "llm:\n  max_tokens: 5000\n")
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        x = 1.0 + 0.25 * next(counter)
        return Reply(f"Move X.\n```python\n{PROGRAM.format(x=x)}```\n", completion_tokens=4900)

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        proc = run_agent("evolve", str(task), "--model", "openai/gpt-4", "--api-base", server.url, "--store", url,
                         "--dollars", "1", "--evaluations", "30", cwd=tmp_path)  # fmt: skip
        requests = server.requests
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "budget: dollars" in proc.stderr
    summary = only_run(url)
    with Store(url) as store:
        calls = store.llm_calls(summary.run.id)
        programs = {p.id: p for p in store.programs(summary.run.id)}
    assert len(requests) == len(calls) == 3  # a fourth call could not be paid in full
    assert all(0.29 < c.cost < 0.32 for c in calls), [c.cost for c in calls]
    assert 0.87 < summary.cost <= 1.0
    # Every answer paid for became a program that was evaluated.
    assert all(programs[c.program_id].status in Status.EVALUATED for c in calls)
    assert summary.evaluated == 1 + len(calls)
