"""A whole `agent evolve` run with a bandit choosing between two models served over real HTTP.

The fake server answers as two priced models (litellm's local price map knows both, so each
call costs real-looking dollars): gpt-4o-mini's edits move X towards the optimum, gpt-4's move
it away. Under weights the worse model would get four calls in five; the bandit, rewarded by
improvement per dollar, learns to call the one that pays.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest

from agent.config import load_task
from agent.learning.model_choice import ModelChooser
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

PAYS = "openai/gpt-4o-mini"
LOSES = "openai/gpt-4"


def llm_section(url: str, choice: str) -> str:
    return f"""
llm:
  models:
    - {{name: {PAYS}, weight: 1, api_base: "{url}"}}
    - {{name: {LOSES}, weight: 4, api_base: "{url}"}}
  choice: {choice}
  roles:
    draft: [{PAYS}, {LOSES}]
"""


def current_x(request: dict) -> float:
    user = request["messages"][-1]["content"]
    current = user.split("# Current program", 1)[1]
    return float(re.search(r"^X = (\S+)$", current, re.M).group(1))


def two_models():
    """gpt-4o-mini takes X about half way to 3 (always closer); gpt-4 takes it one further away."""
    counter = itertools.count(1)

    def respond(request: dict) -> Reply:
        x = current_x(request)
        k = next(counter) % 11  # answers to the same parent differ: no duplicates
        if request["model"] == PAYS.split("/", 1)[1]:
            new = x + (3.0 - x) * (0.45 + 0.01 * k)
        else:
            new = x + (1.0 + 0.01 * k) * (1.0 if x >= 3.0 else -1.0)
        return Reply(f"<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n",
                     prompt_tokens=2000, completion_tokens=100)  # fmt: skip

    return respond


@pytest.mark.parametrize("choice", ["ucb", "thompson"])
def test_the_bandit_learns_to_call_the_model_that_pays(tmp_path, choice):
    task = copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(two_models())
        with task.open("a", encoding="utf-8") as out:
            out.write(llm_section(server.url, choice))
        proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "40", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = only_run(url)
    assert summary.run.status == "finished"
    with Store(url) as store:
        calls = sorted(store.llm_calls(summary.run.id), key=lambda c: c.created_at)
        programs = {p.id: p for p in store.programs(summary.run.id)}

    # Every call says its role and model; its child records the same choice.
    assert len(calls) >= 30 and {c.model for c in calls} == {PAYS, LOSES}
    assert {c.role for c in calls} == {"draft"}  # every parent is correct: nothing to fix
    for c in calls:
        assert programs[c.program_id].proposal["model"] == c.model
        assert programs[c.program_id].proposal["role"] == "draft"
    # Every evaluated child paid its call a reward: per dollar, since both models are priced.
    rewarded = [c for c in calls if programs[c.program_id].status != "pending"]
    assert all(c.reward is not None and c.cost > 0 for c in rewarded)
    assert all(c.reward == 0.0 for c in rewarded if c.model == LOSES)
    paying = [c for c in rewarded if c.model == PAYS and c.reward > 0]
    assert paying
    for c in paying:  # the reward is the child's gain over its parent per dollar of the call
        child = programs[c.program_id]
        gain = child.fitness - programs[child.parent_id].fitness
        assert c.reward == pytest.approx(gain / c.cost)
    # The bandit learnt: most later calls go to the model that pays, against its weight of 1 in 5.
    later = calls[len(calls) // 2:]
    assert sum(c.model == PAYS for c in later) >= 0.6 * len(later)
    # A resumed run's chooser learns back from the stored calls what this run's had learnt.
    resumed = ModelChooser(load_task(task).llm, random.Random(0))
    resumed.restore(calls)
    for model in (PAYS, LOSES):
        rewards = [c.reward for c in calls if c.model == model and c.reward is not None]
        assert resumed.stats()["draft"][model] == (len(rewards), pytest.approx(sum(rewards) / len(rewards)))
