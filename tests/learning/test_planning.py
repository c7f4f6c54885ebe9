"""Plan, then implement (agent/learning/planning.py): plans asked for through the real LLM gateway
over HTTP to a fake OpenAI server, stored in a real SQLite store, and fed back to later plan prompts."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from agent.config import LLMConfig, ModelSpec, PlanConfig
from agent.learning.parts import LearningParts
from agent.learning.planning import Planner
from agent.llm import LLMGateway
from agent.prompts import PromptBuilder, PromptContext, PromptError
from agent.proposers import LLMProposer
from archives.records import EvalResult, Program, ProposalRequest, Status
from archives.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply

PARENT_SOURCE = "def f(xs):\n    return [x * x for x in xs]\n"
PLAN_A = "Change: precompute the squares in a table.\nWhy: time is spent in the loop.\nExpected effect: 2x faster."
PLAN_B = "Change: rewrite the loop in C through ctypes.\nWhy: Python overhead.\nExpected effect: 5x faster."
PLAN_C = "Change: cache results across calls.\nWhy: repeated inputs.\nExpected effect: 10% faster."


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'plans.db'}") as s:
        yield s


@pytest.fixture
def run_id(store: Store) -> str:
    return store.create_run("squares", "/task.yaml", "map_elites", 0, {}).id


def model(server: FakeOpenAIServer) -> ModelSpec:
    return ModelSpec(name="openai/planner", api_base=server.url)


def planner(store: Store, run_id: str, server: FakeOpenAIServer, **settings: object) -> Planner:
    config = LLMConfig(models=[model(server)], retries=0, timeout_seconds=60)
    gateway = LLMGateway(config, run_id=run_id, rng=random.Random(0))
    return Planner(store, run_id, gateway, config=PlanConfig(enabled=True, **settings))


def program(store: Store, run_id: str, pid: str, result: EvalResult, parent_id: str | None = None) -> Program:
    store.add_program(Program(id=pid, run_id=run_id, source=f"# {pid}\n{PARENT_SOURCE}", parent_id=parent_id))
    return store.finish_program(pid, result)


def context(parent: Program, **fields: object) -> PromptContext:
    return PromptContext(task_name="squares", task_description="Square a list fast.", language="python",
                         parent=parent, **fields)  # fmt: skip


def user_prompt(request: dict) -> str:
    return request["messages"][-1]["content"]


def test_a_plan_is_asked_for_once_grounded_in_the_parent_and_stored(store, run_id, fake_llm):
    fake_llm.set_replies([PLAN_A])
    parent = program(store, run_id, "p0", EvalResult(Status.CORRECT, fitness=1.5, metrics={"seconds": 0.25},
                                                     feedback="loop dominates the profile"))  # fmt: skip
    ctx = context(parent, diagnosis="interpreter-bound: 90% of the time in the list comprehension",
                  previous_errors=("SyntaxError: invalid syntax",))  # fmt: skip

    plan, call, error = asyncio.run(planner(store, run_id, fake_llm).plan(ctx, model(fake_llm)))

    assert error is None and plan is not None and call is not None
    assert plan.text == PLAN_A and plan.parent_program_id == "p0" and plan.run_id == run_id
    assert call.role == "plan" and call.error is None and plan.call_id == call.id and call.model == "openai/planner"
    assert store.plans(run_id) == [plan]
    assert len(fake_llm.requests) == 1 and fake_llm.requests[0]["model"] == "planner"
    prompt = user_prompt(fake_llm.requests[0])
    for shown in ("Fitness: 1.5", "seconds = 0.25", "Diagnosis: interpreter-bound: 90% of the time",
                  "loop dominates the profile", "return [x * x for x in xs]", "SyntaxError: invalid syntax",
                  "Square a list fast.", "Expected effect:"):  # fmt: skip
        assert shown in prompt, shown
    assert "Plans that paid off" not in prompt and "avoid them" not in prompt  # nothing learnt yet


def test_a_plan_whose_child_gained_is_offered_to_a_later_plan_prompt(store, run_id, fake_llm, tmp_path):
    fake_llm.set_replies([PLAN_A, PLAN_C, "Change: something new."])
    parent = program(store, run_id, "p0", EvalResult(Status.CORRECT, fitness=1.0))
    first = planner(store, run_id, fake_llm, reuse=1)
    plan_a, _, _ = asyncio.run(first.plan(context(parent), model(fake_llm)))
    plan_c, _, _ = asyncio.run(first.plan(context(parent), model(fake_llm)))
    assert plan_a is not None and plan_c is not None
    child_a = program(store, run_id, "c1", EvalResult(Status.CORRECT, fitness=1.5), parent_id="p0")
    child_c = program(store, run_id, "c2", EvalResult(Status.CORRECT, fitness=1.1), parent_id="p0")
    first.credit(plan_a.id, child_a, 0.5)
    first.credit(plan_c.id, child_c, 0.1)
    stored = {p.id: p for p in store.plans(run_id)}
    assert (stored[plan_a.id].program_id, stored[plan_a.id].gain) == ("c1", 0.5)

    with Store(f"sqlite:///{tmp_path / 'plans.db'}") as reopened:  # a resumed run: a new planner, the same store
        later, _, _ = asyncio.run(planner(reopened, run_id, fake_llm, reuse=1).plan(context(child_a), model(fake_llm)))

    assert later is not None
    prompt = user_prompt(fake_llm.requests[-1])
    assert "# Plans that paid off in this run" in prompt
    assert "## Gained +0.5\n" + PLAN_A in prompt
    assert PLAN_C not in prompt  # reuse=1 keeps the best gain only
    assert "avoid them" not in prompt


def test_plans_that_failed_or_lost_are_shown_as_things_to_avoid(store, run_id, fake_llm):
    fake_llm.set_replies([PLAN_B, PLAN_C, PLAN_A, "Change: something new."])
    parent = program(store, run_id, "p0", EvalResult(Status.CORRECT, fitness=2.0))
    p = planner(store, run_id, fake_llm, avoid=2)
    plans = [asyncio.run(p.plan(context(parent), model(fake_llm)))[0] for _ in range(3)]
    assert all(plans)
    broken = program(store, run_id, "c1", EvalResult(Status.BUILD_FAILED, error="ctypes: cannot load libsq.so"), "p0")
    slower = program(store, run_id, "c2", EvalResult(Status.CORRECT, fitness=1.8), "p0")
    better = program(store, run_id, "c3", EvalResult(Status.CORRECT, fitness=2.5), "p0")
    p.credit(plans[0].id, broken, None)
    p.credit(plans[1].id, slower, -0.2)
    p.credit(plans[2].id, better, 0.5)

    asyncio.run(p.plan(context(parent), model(fake_llm)))

    prompt = user_prompt(fake_llm.requests[-1])
    avoid = prompt[prompt.index("# Plans that did not pay off: avoid them"):]
    assert "## Its child failed: build_failed (ctypes: cannot load libsq.so)\n" + PLAN_B in avoid
    assert "## Its child lost 0.2 fitness\n" + PLAN_C in avoid
    assert PLAN_A not in avoid and "## Gained +0.5\n" + PLAN_A in prompt


def test_avoid_prefers_plans_on_the_same_parent_and_skips_a_plan_that_fixed_its_parent(store, run_id, fake_llm):
    fake_llm.set_replies(["Change: on the other parent.", "Change: on this parent.", "Change: the fix.", "next"])
    this = program(store, run_id, "p0", EvalResult(Status.CORRECT, fitness=2.0))
    other = program(store, run_id, "p1", EvalResult(Status.CORRECT, fitness=3.0))
    failing = program(store, run_id, "p2", EvalResult(Status.WRONG, error="wrong output"))
    p = planner(store, run_id, fake_llm, avoid=1)
    on_other, _, _ = asyncio.run(p.plan(context(other), model(fake_llm)))
    on_this, _, _ = asyncio.run(p.plan(context(this), model(fake_llm)))
    fix, _, _ = asyncio.run(p.plan(context(failing), model(fake_llm)))
    assert on_other and on_this and fix
    p.credit(on_this.id, program(store, run_id, "c1", EvalResult(Status.WRONG, error="bad"), "p0"), None)
    p.credit(fix.id, program(store, run_id, "c3", EvalResult(Status.CORRECT, fitness=1.0), "p2"), None)
    p.credit(on_other.id, program(store, run_id, "c2", EvalResult(Status.TIMEOUT, error="too slow"), "p1"), None)

    asyncio.run(p.plan(context(this), model(fake_llm)))

    prompt = user_prompt(fake_llm.requests[-1])
    assert "Change: on this parent." in prompt  # the same parent's failure first, though older
    assert "Change: on the other parent." not in prompt  # avoid=1
    assert "Change: the fix." not in prompt  # its child is correct: it fixed the parent, no failure


def test_a_failed_plan_call_stores_no_plan_and_hands_back_the_call(store, run_id, fake_llm):
    fake_llm.set_replies([Reply(status=400, error_message="bad request")])
    parent = program(store, run_id, "p0", EvalResult(Status.CORRECT, fitness=1.0))

    plan, call, error = asyncio.run(planner(store, run_id, fake_llm).plan(context(parent), model(fake_llm)))

    assert plan is None and store.plans(run_id) == []
    assert call is not None and call.role == "plan" and call.error
    assert error is not None and "bad request" in str(error) and str(error) == call.error


def test_a_task_template_overrides_plan_j2_and_a_broken_one_names_itself(store, run_id, fake_llm, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "plan.j2").write_text("Plan for {{ task_name }} at {{ parent.fitness }}; avoid {{ avoid | length }}.\n")
    fake_llm.set_replies([PLAN_A])
    parent = program(store, run_id, "p0", EvalResult(Status.CORRECT, fitness=1.0))
    gateway = LLMGateway(LLMConfig(models=[model(fake_llm)], retries=0, timeout_seconds=60), run_id=run_id,
                         rng=random.Random(0))  # fmt: skip
    p = Planner(store, run_id, gateway, config=PlanConfig(enabled=True), templates_dir=folder)
    asyncio.run(p.plan(context(parent), model(fake_llm)))
    assert user_prompt(fake_llm.requests[-1]) == "Plan for squares at 1; avoid 0."

    (folder / "plan.j2").write_text("{{ no_such_value }}\n")
    broken = Planner(store, run_id, gateway, config=PlanConfig(enabled=True), templates_dir=folder)
    with pytest.raises(PromptError, match="plan.j2"):
        broken.messages(context(parent))
    assert len(fake_llm.requests) == 1  # nothing was sent for the broken template


def test_the_llm_proposer_implements_the_plan_and_credits_it_with_the_childs_gain(store, run_id, fake_llm):
    def responder(request: dict) -> Reply:
        if request["messages"][0]["content"].startswith("You plan the next change"):
            return Reply(PLAN_A)
        return Reply("```python\ndef f(xs):\n    return [x ** 2 for x in xs]\n```\n")

    fake_llm.set_responder(responder)
    parent = program(store, run_id, "p0", EvalResult(Status.CORRECT, fitness=1.0))
    plans = planner(store, run_id, fake_llm)
    gateway = LLMGateway(LLMConfig(models=[model(fake_llm)], retries=0, timeout_seconds=60), run_id=run_id,
                         rng=random.Random(0))  # fmt: skip
    proposer = LLMProposer(gateway, PromptBuilder(), task_name="squares", description="Square a list fast.",
                           language="python", learning=LearningParts(planner=plans, run_id=run_id))  # fmt: skip

    proposal = asyncio.run(proposer.propose(ProposalRequest(parent=parent)))

    assert proposal.error is None and "x ** 2" in (proposal.source or "")
    [plan] = store.plans(run_id)
    assert proposal.choices["plan_id"] == plan.id
    assert [c.role for c in proposal.extra_calls] == ["plan"] and proposal.extra_calls[0].id == plan.call_id
    implement = user_prompt(fake_llm.requests[-1])
    assert len(fake_llm.requests) == 2 and "# The plan to implement" in implement and PLAN_A in implement

    store.add_program(Program(id="c1", run_id=run_id, source=proposal.source or "", parent_id="p0",
                              proposal=dict(proposal.choices)))  # fmt: skip
    child = store.finish_program("c1", EvalResult(Status.CORRECT, fitness=1.25))
    asyncio.run(proposer.learn(child, parent, []))
    [credited] = store.plans(run_id)
    assert (credited.program_id, credited.gain) == ("c1", 0.25)
