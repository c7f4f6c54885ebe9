"""`llm.roles` in a whole `agent evolve` run over real HTTP: proposals go to the draft model,
the priority queue's memory summaries to the summarize model, and each call is stored with
its role."""

from __future__ import annotations

import itertools
import re

from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.e2e.test_evolve_with_llm import current_x
from tests.fakes.openai_server import FakeOpenAIServer, Reply

DRAFTER = "openai/drafter"
SUMMARIZER = "openai/summarizer"
SUMMARY_SYSTEM = "You review the programs of an evolutionary code search"  # agent/summarizer.py


def llm_and_search(url: str) -> str:
    return f"""
search:
  strategy: pq
  pq: {{summarize_every: 5}}
llm:
  models:
    - {{name: {DRAFTER}, weight: 1, api_base: "{url}"}}
    - {{name: {SUMMARIZER}, weight: 1, api_base: "{url}"}}
  roles:
    draft: {DRAFTER}
    summarize: [{SUMMARIZER}]
"""


def responder():
    counter = itertools.count(1)

    def respond(request: dict) -> Reply:
        if SUMMARY_SYSTEM in request["messages"][0]["content"]:
            return Reply("- Move X towards 3.\n- Take smaller steps near it.\n")
        x = current_x(request)
        new = x + (3.0 - x) * (0.4 + 0.01 * (next(counter) % 13))
        return Reply(f"<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n")

    return respond


def test_each_role_uses_its_own_model_and_every_call_records_its_role(tmp_path):
    task = copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(responder())
        text = re.sub(r"^search:\n  strategy: map_elites.*\n", "", task.read_text(encoding="utf-8"), flags=re.M)
        task.write_text(text + llm_and_search(server.url), encoding="utf-8")
        proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "20", "-q", cwd=tmp_path)
        requests = server.requests
    assert proc.returncode == 0, proc.stderr
    summaries = [r for r in requests if SUMMARY_SYSTEM in r["messages"][0]["content"]]
    proposals = [r for r in requests if SUMMARY_SYSTEM not in r["messages"][0]["content"]]
    assert summaries and proposals
    assert {r["model"] for r in summaries} == {"summarizer"}
    assert {r["model"] for r in proposals} == {"drafter"}
    with Store(url) as store:
        run_id = only_run(url).run.id
        calls = store.llm_calls(run_id)
        pending = {p.id for p in store.programs(run_id) if p.status == "pending"}
    assert {(c.role, c.model) for c in calls} == {("summarize", SUMMARIZER), ("draft", DRAFTER)}
    # With roles set, calls earn rewards even under choice: weights; summaries never do.
    assert all(c.reward is not None for c in calls if c.role == "draft" and c.program_id not in pending)
    assert all(c.reward is None for c in calls if c.role == "summarize")
    # The summaries' advice reaches the later proposal prompts.
    assert any("Move X towards 3." in r["messages"][-1]["content"] for r in proposals)
