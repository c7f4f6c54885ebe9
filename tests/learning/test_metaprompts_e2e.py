"""Whole `agent evolve` runs with co-evolving meta-prompts, the LLM served over real HTTP.

The fake server is both the proposer and the rewriter of meta-prompts. As the proposer, its
edit moves X towards the optimum (X = 3) when the prompt's "# How to approach it" section
holds the marker hint, and away from it otherwise. As the rewriter, it adds the marker to
instructions without it and drops it from instructions with it, so both kinds stay in the
population and the pool has to learn which one pays.
"""

from __future__ import annotations

import itertools
import re

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

MARKER = "Move X halfway towards 3."
META_SYSTEM_START = "You improve the instructions"


def answerer():
    counter = itertools.count(1)

    def respond(request: dict) -> Reply:
        system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
        n = next(counter)
        if system.startswith(META_SYSTEM_START):
            rewritten = user.split("# What their children did")[0]
            hints = "Try something bold." if MARKER in rewritten else MARKER
            system = f"You edit programs, carefully. (rewrite {n})"
            return Reply(f"<system>\n{system}\n</system>\n<hints>\n{hints}\n</hints>\n")
        x = float(re.search(r"^X = (\S+)$", user.split("# Current program", 1)[1], re.M).group(1))
        nudge = 1e-4 * n  # no two answers alike: no duplicates
        new = x + (3.0 - x) * 0.5 + nudge if f"# How to approach it\n{MARKER}" in user else x - 1.0 - nudge
        return Reply(f"<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n")

    return respond


LEARNING = """
learning:
  meta_prompts: {enabled: true, population: 4, evolve_every: 6}
"""


def test_a_run_co_evolves_its_meta_prompts_records_them_and_resumes_them(tmp_path):
    task = copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(answerer())
        with task.open("a", encoding="utf-8") as out:
            out.write(f'\nllm:\n  models:\n    - {{name: openai/fake, api_base: "{server.url}"}}\n{LEARNING}')
        first = run_agent("evolve", str(task), "--store", url, "--evaluations", "24", "-q", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        with Store(url) as store:
            run_id = only_run(url).run.id
            metas_before = store.meta_prompts(run_id)
        resumed = run_agent("evolve", str(task), "--store", url, "--resume", "--evaluations", "48", "-q", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        requests = server.requests

    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 48
    with Store(url) as store:
        metas = {m.id: m for m in store.meta_prompts(run_id)}
        calls = store.llm_calls(run_id)
        programs = [p for p in store.programs(run_id, order="evaluated") if p.proposal]

    # Lineage: one initial meta-prompt (the built-in system prompt), every other one rewritten
    # from a stored parent by a recorded "meta" call; the resumed run kept the first run's.
    initial = [m for m in metas.values() if m.origin == "initial"]
    assert len(initial) == 1 and "expert programmer" in initial[0].system
    rewrites = [m for m in metas.values() if m.origin == "rewrite"]
    assert len(rewrites) >= 4 and {m.id for m in metas_before} < set(metas)
    meta_calls = {c.id: c for c in calls if c.role == "meta"}
    for m in rewrites:
        assert m.parent_id in metas and m.call_id in meta_calls
    # Every child names the meta-prompt it was asked with, and that prompt was sent.
    prompts = {(r["messages"][0]["content"]) for r in requests}
    for p in programs:
        meta = metas[p.proposal["meta_prompt_id"]]
        assert meta.system in prompts
    # The pool learnt: children of marked instructions gained, and later proposals use them more.
    marked = [p for p in programs if MARKER in metas[p.proposal["meta_prompt_id"]].hints]
    assert marked and all(p.status == Status.CORRECT for p in marked)
    later = programs[len(programs) // 2:]
    assert sum(MARKER in metas[p.proposal["meta_prompt_id"]].hints for p in later) >= 0.6 * len(later)
