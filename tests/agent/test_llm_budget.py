"""The dollar budget holds: each call reserves its worst case before it is sent (agent/llm/ledger.py).

Gateway tests use openai/gpt-4 ($30 / $60 per million tokens in litellm's local price map) on
the fake server, which reports the usage a test asks for, so calls cost real-looking money.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from agent.config import LLMConfig, ModelSpec
from agent.llm import BudgetExceeded, LLMError, LLMGateway
from agent.llm.gateway import _load_litellm
from agent.llm.ledger import DollarLedger
from agent.llm.pricing import worst_case_cost
from tests.fakes.openai_server import FakeOpenAIServer, Reply

MESSAGES = [{"role": "user", "content": "Make it faster."}]
MODEL = "openai/gpt-4"
MAX_TOKENS = 100


async def _no_wait(seconds: float) -> None:
    pass


def worst_case() -> float:
    return worst_case_cost(_load_litellm(), MODEL, MESSAGES, MAX_TOKENS)


def priced_gateway(server: FakeOpenAIServer, budget: float, **config: object) -> LLMGateway:
    settings = {"retries": 2, "timeout_seconds": 30.0, "max_tokens": MAX_TOKENS, "concurrency": 4, **config}
    llm = LLMConfig(models=[ModelSpec(name=MODEL, api_base=server.url)], **settings)
    return LLMGateway(llm, run_id="r", rng=random.Random(0), dollar_budget=budget, sleep=_no_wait)


# --- the ledger on its own ----------------------------------------------------------------------


def test_ledger_reserves_settles_and_releases() -> None:
    async def scenario() -> DollarLedger:
        ledger = DollarLedger(1.0, spent=0.25)
        first = await ledger.reserve(0.5)
        assert ledger.reserved == 0.5
        ledger.settle(first, 0.1)
        second = await ledger.reserve(0.6)
        ledger.release(second)
        return ledger

    ledger = asyncio.run(scenario())
    assert ledger.spent == pytest.approx(0.35) and ledger.reserved == 0.0


def test_ledger_refuses_what_cannot_fit_when_nothing_is_in_flight() -> None:
    ledger = DollarLedger(1.0, spent=0.7)
    with pytest.raises(BudgetExceeded, match=r"spent \$0\.7000; the next call may cost up to \$0\.4000"):
        asyncio.run(ledger.reserve(0.4))
    assert ledger.reserved == 0.0


def test_ledger_waits_for_a_call_in_flight_and_goes_on_when_its_answer_was_cheap() -> None:
    async def scenario() -> list[str]:
        ledger = DollarLedger(1.0)
        events: list[str] = []
        held = await ledger.reserve(0.6)

        async def second() -> None:
            await ledger.reserve(0.6)
            events.append("second reserved")

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.05)
        events.append("first settles")
        ledger.settle(held, 0.2)
        await asyncio.wait_for(waiting, 5)
        return events

    assert asyncio.run(scenario()) == ["first settles", "second reserved"]


def test_ledger_refuses_the_waiting_call_once_the_last_answer_leaves_no_room() -> None:
    async def scenario() -> None:
        ledger = DollarLedger(1.0)
        held = await ledger.reserve(0.6)
        waiting = asyncio.create_task(ledger.reserve(0.6))
        await asyncio.sleep(0.05)
        ledger.settle(held, 0.55)
        await asyncio.wait_for(waiting, 5)

    with pytest.raises(BudgetExceeded):
        asyncio.run(scenario())


def test_no_budget_reserves_nothing_and_never_refuses() -> None:
    ledger = DollarLedger(None, spent=123.0)
    asyncio.run(ledger.reserve(10.0))
    ledger.check()


# --- the gateway --------------------------------------------------------------------------------


def test_calls_in_flight_never_reserve_more_than_the_budget(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply("answer", delay=0.3, completion_tokens=MAX_TOKENS)])  # each costs about its worst case
    budget = 2.5 * worst_case()
    gateway = priced_gateway(fake_llm, budget)

    async def six() -> list[object]:
        return await asyncio.gather(*(gateway.complete(MESSAGES) for _ in range(6)), return_exceptions=True)

    results = asyncio.run(six())
    answered = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(answered) == 2 and len(refused) == 4
    assert fake_llm.max_in_flight == 2 and len(fake_llm.requests) == 2
    assert 0 < gateway.spent <= budget


def test_cheap_answers_free_their_reservation_for_more_calls(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply("answer", delay=0.1, completion_tokens=5)])  # far below max_tokens
    budget = 1.5 * worst_case()
    gateway = priced_gateway(fake_llm, budget)

    async def five() -> list[object]:
        return await asyncio.gather(*(gateway.complete(MESSAGES) for _ in range(5)))

    assert len(asyncio.run(five())) == 5
    assert fake_llm.max_in_flight == 1  # one worst case fits at a time, and each answer left room
    assert gateway.spent <= budget


def test_a_retry_the_budget_cannot_pay_gives_up_with_the_failure(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply("", completion_tokens=MAX_TOKENS), "never reached"])  # empty, but billed
    gateway = priced_gateway(fake_llm, 1.5 * worst_case())
    with pytest.raises(LLMError) as info:
        asyncio.run(gateway.complete(MESSAGES))
    assert "empty answer (no budget left to retry)" in str(info.value)
    assert len(fake_llm.requests) == 1 and gateway.spent > 0 and info.value.call.cost == pytest.approx(gateway.spent)


def test_a_cancelled_call_gives_its_reservation_back(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply("late", delay=60), "prompt"])
    gateway = priced_gateway(fake_llm, 1.2 * worst_case())

    async def scenario() -> str:
        hanging = asyncio.create_task(gateway.complete(MESSAGES))
        await asyncio.sleep(0.5)
        hanging.cancel()
        await asyncio.gather(hanging, return_exceptions=True)
        return (await asyncio.wait_for(gateway.complete(MESSAGES), 20)).text

    assert asyncio.run(scenario()) == "prompt"
    assert gateway.spent > 0


def test_an_unpriced_model_is_never_refused(fake_llm: FakeOpenAIServer) -> None:
    llm = LLMConfig(models=[ModelSpec(name="openai/fake-model", api_base=fake_llm.url)], max_tokens=MAX_TOKENS)
    gateway = LLMGateway(llm, run_id="r", rng=random.Random(0), dollar_budget=1e-9)
    assert asyncio.run(gateway.complete(MESSAGES)).text == "ok" and gateway.spent == 0.0
