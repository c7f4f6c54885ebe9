"""The model chooser (agent/learning/model_choice.py): roles, weighted draws, the reward rule,
learning from scripted rewards, and replaying stored rewards on resume."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace

import pytest

from agent.config import LLMConfig, ModelSpec
from agent.learning.model_choice import ModelChooser, call_reward
from agent.llm import LLMGateway
from archives.records import LLMCall
from tests.fakes.openai_server import FakeOpenAIServer, Reply


def config(choice: str = "weights", roles: dict | None = None, **weights: float) -> LLMConfig:
    weights = weights or {"cheap": 1.0, "pays": 1.0}
    models = [ModelSpec(name=f"openai/{name}", weight=w) for name, w in weights.items()]
    return LLMConfig(models=models, choice=choice, roles=roles or {})


def call(model: str, *, role: str | None = "draft", cost: float = 0.0, latency: float = 2.0,
         purpose: str = "proposer", reward: float | None = None, at: float = 0.0) -> LLMCall:
    return LLMCall(id=uuid.uuid4().hex, run_id="r", model=model, prompt="[]", cost=cost, latency=latency,
                   role=role, purpose=purpose, reward=reward, created_at=at)


# --- the reward rule ------------------------------------------------------------------------


def test_a_paid_call_earns_its_improvement_per_dollar_and_a_free_one_per_second():
    assert call_reward(call("openai/a", cost=0.02, latency=9.0), 0.5) == pytest.approx(25.0)
    assert call_reward(call("openai/a", cost=0.0, latency=4.0), 0.5) == pytest.approx(0.125)
    assert call_reward(call("openai/a", cost=0.0, latency=0.0), 0.5) == pytest.approx(500.0)  # 1 ms at least


def test_no_gain_a_loss_or_a_failed_child_earns_zero():
    paid = call("openai/a", cost=0.01)
    assert call_reward(paid, None) == 0.0
    assert call_reward(paid, 0.0) == 0.0
    assert call_reward(paid, -3.0) == 0.0
    assert call_reward(paid, float("nan")) == 0.0


def test_a_call_is_rewarded_once_and_calls_of_other_purposes_earn_nothing():
    chooser = ModelChooser(config("ucb"), random.Random(0))
    first = call("openai/pays", cost=0.5)
    assert chooser.reward(first, 1.0) == pytest.approx(2.0)
    assert chooser.reward(first, 9.0) == pytest.approx(2.0)
    assert chooser.stats() == {"draft": {"openai/pays": (1, 2.0)}}
    assert chooser.reward(call("openai/pays", purpose="target"), 1.0) is None
    assert chooser.reward(call("openai/pays", purpose="judge"), 1.0) is None
    assert chooser.stats() == {"draft": {"openai/pays": (1, 2.0)}}


# --- roles and weighted draws -------------------------------------------------------------------


def test_weights_draw_the_same_models_as_the_gateway_did_before_roles():
    llm = config(a=3.0, b=1.0, c=0.5)
    chooser = ModelChooser(llm, random.Random(7))
    gateway = LLMGateway(llm, run_id="r", rng=random.Random(7))
    assert [chooser.choose("draft").name for _ in range(200)] == [gateway.pick_model().name for _ in range(200)]


def test_weights_follow_the_models_weights():
    chooser = ModelChooser(config(a=3.0, b=1.0), random.Random(1))
    names = [chooser.choose("draft").name for _ in range(2000)]
    assert 0.70 < names.count("openai/a") / len(names) < 0.80


@pytest.mark.parametrize("choice", ["weights", "ucb", "thompson"])
def test_a_role_uses_only_its_own_models_and_a_role_without_a_list_uses_all(choice):
    roles = {"fix": ["openai/strong"], "draft": ["openai/cheap", "openai/pays"]}
    chooser = ModelChooser(config(choice, roles, cheap=1.0, pays=1.0, strong=1.0), random.Random(3))
    picked: dict[str, set[str]] = {"draft": set(), "fix": set(), "plan": set()}
    for i in range(60):
        for role in picked:
            model = chooser.choose(role)
            picked[role].add(model.name)
            chooser.reward(call(model.name, role=role, latency=1.0), 1.0 if i % 2 else None)
    assert picked == {
        "fix": {"openai/strong"},
        "draft": {"openai/cheap", "openai/pays"},
        "plan": {"openai/cheap", "openai/pays", "openai/strong"},
    }


def test_roles_without_rewards_are_drawn_by_weight_even_under_a_bandit():
    chooser = ModelChooser(config("ucb", {"summarize": ["openai/a", "openai/b"]}, a=9.0, b=1.0), random.Random(2))
    names = [chooser.choose("summarize").name for _ in range(500)]
    assert names.count("openai/a") > 400 and "openai/b" in names
    chooser.reward(call("openai/a", role="summarize"), 1.0)
    assert chooser.stats() == {}


def test_the_models_spec_is_returned_with_its_server_and_settings():
    llm = LLMConfig(models=[ModelSpec(name="openai/local", api_base="http://127.0.0.1:1/v1", temperature=0.1),
                            ModelSpec(name="openai/other")], choice="thompson", roles={"draft": ["openai/local"]})
    spec = ModelChooser(llm, random.Random(0)).choose("draft")
    assert spec.api_base == "http://127.0.0.1:1/v1" and spec.temperature == 0.1


# --- learning ----------------------------------------------------------------------------------


def scripted_improvement(model: str, world: random.Random) -> float | None:
    """"pays" improves its child one time in three, "cheap" one in ten; most children fail."""
    chance = 0.33 if model.endswith("pays") else 0.1
    roll = world.random()
    if roll < chance:
        return world.uniform(0.1, 1.0)
    return None if roll < 0.7 else -world.uniform(0.0, 0.5)


@pytest.mark.parametrize("choice", ["ucb", "thompson"])
@pytest.mark.parametrize("seed", range(3))
def test_the_chooser_converges_on_the_model_that_pays(choice, seed):
    chooser = ModelChooser(config(choice), random.Random(seed))
    world = random.Random(100 + seed)
    names = []
    for _ in range(400):
        model = chooser.choose("draft")
        names.append(model.name)
        # Both models cost the same per call; what differs is what their children bring.
        chooser.reward(call(model.name, cost=0.01), scripted_improvement(model.name, world))
    assert names[-100:].count("openai/pays") >= 65
    stats = chooser.stats()["draft"]
    assert stats["openai/pays"][1] > stats["openai/cheap"][1]


@pytest.mark.parametrize("choice", ["ucb", "thompson"])
def test_per_dollar_the_cheaper_of_two_equally_good_models_wins(choice):
    chooser = ModelChooser(config(choice, cheap=1.0, dear=1.0), random.Random(4))
    world = random.Random(5)
    names = []
    for _ in range(300):
        model = chooser.choose("draft")
        names.append(model.name)
        gain = 1.0 if world.random() < 0.3 else None  # the same chance of the same gain for both
        chooser.reward(call(model.name, cost=0.001 if model.name.endswith("cheap") else 0.01), gain)
    assert names[-100:].count("openai/cheap") >= 75


def test_restore_replays_stored_rewards_and_skips_those_not_yet_known():
    learnt = ModelChooser(config("ucb"), random.Random(0))
    world = random.Random(1)
    stored = []
    for i in range(50):
        model = learnt.choose("draft")
        made = call(model.name, cost=0.01, at=float(i))
        stored.append(replace(made, reward=learnt.reward(made, scripted_improvement(model.name, world))))
    stored.append(call("openai/cheap", at=99.0))  # its child was never evaluated: no reward
    stored.append(call("openai/cheap", purpose="target", reward=5.0, at=100.0))
    resumed = ModelChooser(config("ucb"), random.Random(0))
    resumed.restore(reversed(stored))
    assert resumed.stats() == learnt.stats()  # the same rewards in the same order
    assert resumed.reward(stored[0], 100.0) == stored[0].reward  # already rewarded before the resume


# --- through real HTTP: the gateway's recorded cost and latency are what the reward reads -------------


def test_a_priced_models_real_call_earns_per_dollar_and_a_local_ones_per_second():
    with FakeOpenAIServer() as server:
        server.set_responder(lambda request: Reply("fine", prompt_tokens=1000, completion_tokens=500))
        llm = LLMConfig(models=[ModelSpec(name="openai/gpt-4", api_base=server.url),
                                ModelSpec(name="openai/local-coder", api_base=server.url)],
                        choice="ucb", retries=0, timeout_seconds=30)
        chooser = ModelChooser(llm, random.Random(0))
        gateway = LLMGateway(llm, run_id="r", rng=random.Random(0))
        messages = [{"role": "user", "content": "Make it faster."}]
        paid = asyncio.run(gateway.complete(messages, llm.models[0])).call
        free = asyncio.run(gateway.complete(messages, llm.models[1])).call
    assert paid.cost == pytest.approx(0.06)  # litellm's gpt-4 price: $30 / $60 per million tokens
    assert free.cost == 0.0 and free.latency > 0
    assert chooser.reward(paid, 0.3) == pytest.approx(0.3 / 0.06)
    assert chooser.reward(free, 0.3) == pytest.approx(0.3 / free.latency)
