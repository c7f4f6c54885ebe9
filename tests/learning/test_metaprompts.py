"""Meta-prompt co-evolution through a real SQLite store and real HTTP to a fake OpenAI server."""

from __future__ import annotations

import asyncio
import random

import pytest

from agent.config import LLMConfig, MetaPromptsConfig, ModelSpec
from agent.learning.metaprompts import MAX_SYSTEM_CHARS, MetaPromptPool, parse_rewrite
from agent.learning.parts import improvement_of
from agent.llm import LLMGateway
from archives.records import EvalResult, MetaPrompt, Program, Status
from archives.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply

SYSTEM = "You are an expert programmer. Make one focused change per answer."
MARKER = "Try loop tiling first."


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'runs.db'}") as s:
        yield s


class Run:
    """A run in the store with a correct initial program, and a pool over it."""

    def __init__(self, store: Store, server: FakeOpenAIServer, *, seed: int = 0, **config):
        self.store = store
        self.run_id = store.create_run("t", "task.yaml", "pq", seed, {}).id
        root = store.add_program(Program(id=f"{self.run_id}-root", run_id=self.run_id, source="x = 0\n"))
        self.root = store.finish_program(root.id, EvalResult(status=Status.CORRECT, fitness=1.0))
        self.server = server
        self.config = MetaPromptsConfig(enabled=True, **config)
        self.seed = seed
        self.count = 0
        self.pool = self.new_pool()

    def new_pool(self) -> MetaPromptPool:
        llm = LLMConfig(models=[ModelSpec(name="openai/fake", api_base=self.server.url)], retries=0, timeout_seconds=30)
        gateway = LLMGateway(llm, run_id=self.run_id, rng=random.Random(self.seed))
        return MetaPromptPool(self.store, self.run_id, gateway, config=self.config, rng=random.Random(self.seed),
                              initial_system=SYSTEM, initial_hints="", record_call=self.store.add_llm_call,
                              task_name="squares", task_description="Sum squares fast.", language="python")  # fmt: skip

    def child(self, meta: MetaPrompt, fitness: float | None, error: str | None = None) -> Program:
        """Store an evaluated child of the root proposed with `meta`, and credit it."""
        self.count += 1
        child = Program(id=f"{self.run_id}-c{self.count}", run_id=self.run_id, source=f"x = {self.count}\n",
                        parent_id=self.root.id, proposal={"meta_prompt_id": meta.id})  # fmt: skip
        self.store.add_program(child)
        status = Status.CORRECT if fitness is not None else Status.WRONG
        child = self.store.finish_program(child.id, EvalResult(status=status, fitness=fitness, error=error))
        self.pool.credit(meta.id, None if fitness is None else fitness - self.root.fitness)
        return child


def rewrite(system: str, hints: str) -> str:
    return f"Here you are.\n<system>\n{system}\n</system>\n<hints>\n{hints}\n</hints>\n"


def test_parse_rewrite_takes_the_tagged_parts_and_refuses_a_missing_or_oversized_system():
    assert parse_rewrite(rewrite("Be brief.", "- tile\n- unroll")) == ("Be brief.", "- tile\n- unroll")
    assert parse_rewrite("<SYSTEM>Only this.</SYSTEM>") == ("Only this.", "")
    assert parse_rewrite("<hints>no system</hints>") is None
    assert parse_rewrite("<system>  </system>") is None
    assert parse_rewrite(f"<system>{'x' * (MAX_SYSTEM_CHARS + 1)}</system>") is None


def test_the_first_pick_seeds_the_built_in_instructions_in_the_store(store, fake_llm):
    run = Run(store, fake_llm)
    meta = run.pool.pick()
    assert (meta.system, meta.hints, meta.origin, meta.parent_id) == (SYSTEM, "", "initial", None)
    assert store.meta_prompts(run.run_id) == [meta]
    assert run.pool.pick() == meta and len(store.meta_prompts(run.run_id)) == 1


def test_every_evolve_every_credits_the_llm_rewrites_the_best_from_what_its_children_did(store, fake_llm):
    fake_llm.set_replies([rewrite("You are a tiling expert.", MARKER)])
    run = Run(store, fake_llm, evolve_every=3)
    first = run.pool.pick()
    run.child(first, 1.5)
    run.child(first, None, error="IndexError: list index out of range")
    asyncio.run(run.pool.maybe_evolve())
    assert fake_llm.requests == []  # two credits: not due yet
    run.child(first, 0.75)
    asyncio.run(run.pool.maybe_evolve())
    assert len(fake_llm.requests) == 1
    prompt = fake_llm.requests[0]["messages"][-1]["content"]
    assert SYSTEM in prompt and "Sum squares fast." in prompt
    assert "3 evaluated children: 1 improved on their parent, 1 failed" in prompt
    assert "parent 1 -> child 1.5 (gain +0.5)" in prompt and "parent 1 -> child wrong: IndexError" in prompt
    assert prompt.index("child 0.75") < prompt.index("child 1.5")  # most recent first

    new = [m for m in store.meta_prompts(run.run_id) if m.origin == "rewrite"]
    assert len(new) == 1
    assert (new[0].system, new[0].hints, new[0].parent_id) == ("You are a tiling expert.", MARKER, first.id)
    (call,) = store.llm_calls(run.run_id)
    assert call.id == new[0].call_id and call.role == "meta" and call.error is None
    assert {m.id for m in run.pool.active} == {first.id, new[0].id}
    asyncio.run(run.pool.maybe_evolve())
    assert len(fake_llm.requests) == 1  # the count restarted


def test_a_failed_or_unusable_rewrite_adds_no_meta_prompt_but_the_call_is_recorded(store, fake_llm):
    fake_llm.set_replies([Reply(status=400), "I would rather not."])
    run = Run(store, fake_llm, evolve_every=1)
    meta = run.pool.pick()
    for _ in range(2):
        run.child(meta, 1.2)
        asyncio.run(run.pool.maybe_evolve())
    assert [m.id for m in store.meta_prompts(run.run_id)] == [meta.id]
    calls = store.llm_calls(run.run_id)
    assert [c.role for c in calls] == ["meta", "meta"]
    assert calls[0].error is not None and calls[1].error is None


def test_the_population_is_capped_by_retiring_the_worst_old_one(store, fake_llm):
    counter = iter(range(100))
    fake_llm.set_responder(lambda request: Reply(rewrite(f"Variant {next(counter)}.", "")))
    run = Run(store, fake_llm, population=2, evolve_every=1)
    first = run.pool.pick()
    run.child(first, 2.0)
    asyncio.run(run.pool.maybe_evolve())  # one rewrite: two active
    second = next(m for m in run.pool.active if m.id != first.id)
    run.child(second, None)  # the new one does worse than the first
    asyncio.run(run.pool.maybe_evolve())  # the best (the first) is rewritten; the worst old one goes
    active = {m.id for m in run.pool.active}
    assert len(active) == 2 and first.id in active and second.id not in active
    assert len(run.pool.members) == len(store.meta_prompts(run.run_id)) == 3
    third = next(m for m in store.meta_prompts(run.run_id) if m.id not in (first.id, second.id))
    assert third.parent_id == first.id
    for _ in range(20):  # a retired meta-prompt is never picked again
        assert run.pool.pick().id != second.id


def test_a_new_meta_prompt_is_tried_once_then_waits_for_that_childs_credit(store, fake_llm):
    fake_llm.set_replies([rewrite("You are new here.", MARKER)])
    run = Run(store, fake_llm, evolve_every=1)
    first = run.pool.pick()
    run.child(first, 1.1)
    asyncio.run(run.pool.maybe_evolve())
    new = next(m for m in run.pool.active if m.id != first.id)
    in_flight = [run.pool.pick() for _ in range(5)]  # proposals made before any child is back
    assert in_flight[0] == new and all(m == first for m in in_flight[1:])
    run.pool.credit(new.id, 0.5)
    assert new in {run.pool.pick() for _ in range(20)}  # judged now: the bandit may choose it again


def _good(meta: MetaPrompt) -> bool:
    return MARKER in meta.hints


def _toggling_answerer(request: dict) -> Reply:
    """A rewrite drops the marker hint of instructions that have it and adds it to those
    without, so marked and unmarked instructions stay side by side in the population."""
    prompt = request["messages"][-1]["content"]
    rewritten = prompt.split("# What their children did")[0]
    hints = "Rename variables for clarity." if MARKER in rewritten else MARKER
    return Reply(rewrite(f"You are careful. (variant {len(prompt)})", hints))


def test_meta_prompts_whose_children_do_better_are_chosen_more(store, fake_llm):
    """Children of instructions with the marker hint gain 70% of the time, the others' 10%:
    the pool picks marked instructions far more often than their share of the population."""
    fake_llm.set_responder(_toggling_answerer)
    run = Run(store, fake_llm, seed=1, population=4, evolve_every=30)
    world = random.Random(8)
    picked, share = [], []
    for _ in range(240):
        meta = run.pool.pick()
        share.append(sum(map(_good, run.pool.active)) / len(run.pool.active))
        picked.append(_good(meta))
        gains = world.random() < (0.7 if _good(meta) else 0.1)
        run.child(meta, 1.0 + world.uniform(0.1, 1.0) if gains else (None if world.random() < 0.5 else 0.9))
        asyncio.run(run.pool.maybe_evolve())
    assert len(fake_llm.requests) >= 10  # rounds of rewrites happened
    late = slice(40, None)  # after the first rewrites
    picked_share = sum(picked[late]) / len(picked[late])
    population_share = sum(share[late]) / len(share[late])
    assert 0.3 < population_share < 0.7  # both kinds stayed in the population
    assert picked_share > population_share + 0.15  # picking at random gave 0.55 here
    # the lineage: every rewrite names its parent and the recorded "meta" call that wrote it
    stored = store.meta_prompts(run.run_id)
    calls = {c.id: c for c in store.llm_calls(run.run_id)}
    ids = {m.id for m in stored}
    assert stored[0].origin == "initial" and len(stored) == len(fake_llm.requests) + 1
    for m in stored[1:]:
        assert m.origin == "rewrite" and m.parent_id in ids and calls[m.call_id].role == "meta"


def test_restore_brings_back_the_population_its_credits_and_the_count_to_the_next_rewrite(store, fake_llm):
    fake_llm.set_responder(_toggling_answerer)
    run = Run(store, fake_llm, seed=5, population=2, evolve_every=4)
    world = random.Random(11)
    for _ in range(28):  # seven rounds of rewrites
        meta = run.pool.pick()
        run.child(meta, 1.0 + world.random() if _good(meta) else world.choice([None, 0.8, 1.1]))
        asyncio.run(run.pool.maybe_evolve())
    run.child(run.pool.pick(), 1.3)  # one credit towards the next rewrite
    before = run.pool
    assert len(before.members) > 2  # some were retired
    after = run.new_pool()
    after.restore()
    assert [m.id for m in after.members] == [m.id for m in before.members]
    assert [m.id for m in after.active] == [m.id for m in before.active]
    for m in before.members:
        n, mean, improved = before.credits(m.id)
        assert after.credits(m.id)[0] == n and after.credits(m.id)[2] == improved
        assert after.credits(m.id)[1] == pytest.approx(mean)
    requests = len(fake_llm.requests)
    for _ in range(2):  # 1 + 2 of 4: still not due
        after.credit(after.pick().id, None)
        asyncio.run(after.maybe_evolve())
    assert len(fake_llm.requests) == requests
    after.credit(after.pick().id, None)
    asyncio.run(after.maybe_evolve())
    assert len(fake_llm.requests) > requests


def test_restore_credits_a_repair_by_the_proposers_rule(store, fake_llm):
    """A correct child of a failed parent earns the run's largest gain so far (1.0 before one)."""
    run = Run(store, fake_llm)
    meta = run.pool.pick()
    broken = run.child(meta, None)
    fixed = store.add_program(Program(id="fixed", run_id=run.run_id, source="x = 9\n", parent_id=broken.id,
                                      proposal={"meta_prompt_id": meta.id}))  # fmt: skip
    fixed = store.finish_program(fixed.id, EvalResult(status=Status.CORRECT, fitness=0.5))
    run.pool.credit(meta.id, improvement_of(fixed, broken, 1.0))
    after = run.new_pool()
    after.restore()
    assert after.credits(meta.id) == run.pool.credits(meta.id) == (2, 0.5, 1)


def test_a_task_template_and_a_model_choice_shape_the_rewrite_call(store, fake_llm, tmp_path):
    (tmp_path / "metaprompt.j2").write_text("Rewrite this: {{ system }} ({{ stats.n }} children)\n")
    fake_llm.set_replies([rewrite("Shorter.", "")])
    run = Run(store, fake_llm, evolve_every=1)
    llm = LLMConfig(models=[ModelSpec(name="openai/cheap", api_base=fake_llm.url),
                            ModelSpec(name="openai/strong", api_base=fake_llm.url)], retries=0)  # fmt: skip
    run.pool = MetaPromptPool(store, run.run_id, LLMGateway(llm, run_id=run.run_id, rng=random.Random(0)),
                              config=run.config, rng=random.Random(0), initial_system=SYSTEM, initial_hints="",
                              record_call=store.add_llm_call, choose_model=lambda: llm.models[1],
                              templates_dir=tmp_path)  # fmt: skip
    run.child(run.pool.pick(), 2.0)
    asyncio.run(run.pool.maybe_evolve())
    (request,) = fake_llm.requests
    assert request["model"] == "strong"
    assert request["messages"][-1]["content"] == f"Rewrite this: {SYSTEM} (1 children)"
    assert [c.model for c in store.llm_calls(run.run_id)] == ["openai/strong"]


def test_credit_for_a_meta_prompt_of_another_run_is_an_error(store, fake_llm):
    run = Run(store, fake_llm)
    run.pool.pick()
    with pytest.raises(KeyError, match="not one of run"):
        run.pool.credit("no-such-id", 1.0)
