"""The LLM gateway against a real HTTP server that speaks OpenAI's chat API (tests.fakes)."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agent.config import LLMConfig, ModelSpec
from agent.llm import BudgetExceeded, Completion, Kind, LLMError, LLMGateway
from tests.fakes.openai_server import FakeOpenAIServer, Reply

MESSAGES = [{"role": "system", "content": "You rewrite code."}, {"role": "user", "content": "Make it faster."}]


class SleepLog:
    """An injected `sleep` that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_gateway(
    server: FakeOpenAIServer,
    *,
    name: str = "openai/fake-model",
    sleep: SleepLog | None = None,
    seed: int = 0,
    **config: object,
) -> LLMGateway:
    settings = {"retries": 3, "timeout_seconds": 5.0, "max_tokens": 64, **config}
    llm = LLMConfig(models=[ModelSpec(name=name, api_base=server.url)], **settings)
    return LLMGateway(llm, run_id="run-1", rng=random.Random(seed), sleep=sleep or SleepLog())


def complete(gateway: LLMGateway, messages: list[dict] = MESSAGES) -> Completion:
    return asyncio.run(gateway.complete(messages))


def fail(gateway: LLMGateway) -> LLMError:
    with pytest.raises(LLMError) as info:
        complete(gateway)
    return info.value


# --- success ------------------------------------------------------------------------------------


def test_success_returns_text_and_a_complete_call_record(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies(["def f(): return 1"])
    gateway = make_gateway(fake_llm, temperature=0.3)

    done = complete(gateway)

    assert done.text == "def f(): return 1"
    call = done.call
    assert call.error is None and call.attempts == 1
    assert call.run_id == "run-1" and call.model == "openai/fake-model"
    assert json.loads(call.prompt) == MESSAGES
    assert call.response == done.text
    assert call.prompt_tokens > 0 and call.completion_tokens > 0
    assert call.latency > 0 and call.created_at > 0 and len(call.id) == 32
    assert call.cost == 0.0  # litellm has no price for a local model
    assert gateway.calls == 1 and gateway.spent == 0.0
    (body,) = fake_llm.requests
    assert body["model"] == "fake-model" and body["messages"] == MESSAGES
    assert body["max_tokens"] == 64 and body["temperature"] == 0.3


def test_model_temperature_overrides_the_config(fake_llm: FakeOpenAIServer) -> None:
    llm = LLMConfig(models=[ModelSpec(name="openai/fake-model", api_base=fake_llm.url, temperature=1.5)])
    complete(LLMGateway(llm, run_id="r", rng=random.Random(0)))
    assert fake_llm.requests[0]["temperature"] == 1.5


def test_api_base_without_key_env_sends_a_placeholder_not_the_vendor_key(
    fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-vendor-key")
    complete(make_gateway(fake_llm))
    assert "sk-secret-vendor-key" not in fake_llm.headers[0]["authorization"]


def test_api_key_env_is_read_and_sent(fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOFORGE_TEST_KEY", "sk-local-123")
    spec = ModelSpec(name="openai/fake-model", api_base=fake_llm.url, api_key_env="EVOFORGE_TEST_KEY")
    complete(LLMGateway(LLMConfig(models=[spec]), run_id="r", rng=random.Random(0)))
    assert fake_llm.headers[0]["authorization"] == "Bearer sk-local-123"


def test_missing_api_key_env_fails_without_a_request(fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOFORGE_NO_SUCH_KEY", raising=False)
    spec = ModelSpec(name="openai/fake-model", api_base=fake_llm.url, api_key_env="EVOFORGE_NO_SUCH_KEY")
    error = fail(LLMGateway(LLMConfig(models=[spec]), run_id="r", rng=random.Random(0)))
    assert "EVOFORGE_NO_SUCH_KEY" in str(error) and error.call.error == str(error)
    assert error.call.attempts == 0 and fake_llm.requests == []


# --- retries ------------------------------------------------------------------------------------


def test_rate_limit_is_retried_after_a_positive_delay(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply(status=429), "ok now"])
    sleep = SleepLog()
    done = complete(make_gateway(fake_llm, sleep=sleep))
    assert done.text == "ok now" and done.call.attempts == 2
    assert len(sleep.delays) == 1 and sleep.delays[0] > 0
    assert len(fake_llm.requests) == 2


def test_rate_limit_honours_retry_after(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply(status=429, retry_after=7), "ok"])
    sleep = SleepLog()
    complete(make_gateway(fake_llm, sleep=sleep))
    assert sleep.delays == [7.0]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(fake_llm: FakeOpenAIServer, status: int) -> None:
    fake_llm.set_replies([Reply(status=status), "recovered"])
    done = complete(make_gateway(fake_llm))
    assert done.text == "recovered" and done.call.attempts == 2


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "HTTP 401 authentication failed"), (400, "HTTP 400 bad request"), (404, "HTTP 404 model or endpoint")],
)
def test_client_errors_are_not_retried(fake_llm: FakeOpenAIServer, status: int, words: str) -> None:
    fake_llm.set_replies([Reply(status=status, error_message="nope"), "never reached"])
    sleep = SleepLog()
    error = fail(make_gateway(fake_llm, sleep=sleep))
    assert len(fake_llm.requests) == 1 and sleep.delays == []
    assert str(error).startswith(f"openai/fake-model: {words}") and "nope" in str(error)
    assert "\n" not in str(error)
    assert error.call.attempts == 1 and error.call.error == str(error)


def test_missing_vendor_key_is_an_authentication_error_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = LLMConfig(models=[ModelSpec(name="openai/gpt-4o-mini")])
    error = fail(LLMGateway(llm, run_id="r", rng=random.Random(0), sleep=SleepLog()))
    assert str(error).startswith("openai/gpt-4o-mini: authentication failed (check OPENAI_API_KEY)")
    assert error.call.attempts == 1


def test_authentication_error_names_the_key_variable(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply(status=401)])
    spec = ModelSpec(name="openai/fake-model", api_base=fake_llm.url, api_key_env="HOME")
    error = fail(LLMGateway(LLMConfig(models=[spec]), run_id="r", rng=random.Random(0)))
    assert "HTTP 401 authentication failed (check HOME)" in str(error)


def test_timeouts_are_retried_then_fail(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply(delay=1.0)])
    error = fail(make_gateway(fake_llm, retries=1, timeout_seconds=0.2))
    assert "timed out after 0.2 s" in str(error) and "2 attempts" in str(error)
    assert error.call.attempts == 2 and len(fake_llm.requests) == 2


def test_a_timeout_then_an_answer_succeeds(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply(delay=1.0), "late but fine"])
    done = complete(make_gateway(fake_llm, timeout_seconds=0.2))
    assert done.text == "late but fine" and done.call.attempts == 2


def test_exhausted_retries_raise_with_the_failed_call(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply(status=503)])
    sleep = SleepLog()
    gateway = make_gateway(fake_llm, retries=2, sleep=sleep)
    error = fail(gateway)
    call = error.call
    assert call.error == str(error) and "HTTP 503" in call.error and "gave up after 3 attempts" in call.error
    assert call.attempts == 3 and call.response == "" and call.model == "openai/fake-model"
    assert len(fake_llm.requests) == 3 and gateway.calls == 1
    first, second = sleep.delays  # exponential backoff with jitter: [0.5, 1] then [1, 2]
    assert 0.5 <= first <= 1.0 <= second <= 2.0


def test_connection_refused_is_retried_then_fails() -> None:
    server = FakeOpenAIServer().start()
    gateway = make_gateway(server, retries=1)
    server.stop()
    error = fail(gateway)
    assert "connection failed" in str(error) and error.call.attempts == 2


def test_empty_answer_is_an_error_within_the_normal_retries(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([""])
    error = fail(make_gateway(fake_llm, retries=1))
    assert "empty answer" in str(error) and error.call.attempts == 2 and error.kind == Kind.EMPTY
    fake_llm.set_replies(["", "something"])
    assert complete(make_gateway(fake_llm)).text == "something"


# --- budget -------------------------------------------------------------------------------------


def test_budget_reached_refuses_before_sending(fake_llm: FakeOpenAIServer) -> None:
    llm = LLMConfig(models=[ModelSpec(name="openai/fake-model", api_base=fake_llm.url)])
    gateway = LLMGateway(llm, run_id="r", rng=random.Random(0), dollar_budget=1.0, spent=1.0)
    assert gateway.spent == 1.0
    with pytest.raises(BudgetExceeded, match=r"\$1\.00"):
        complete(gateway)
    assert fake_llm.requests == [] and gateway.calls == 0


def test_known_model_costs_money_from_the_local_price_map(fake_llm: FakeOpenAIServer) -> None:
    llm = LLMConfig(models=[ModelSpec(name="openai/gpt-4o-mini", api_base=fake_llm.url)], max_tokens=1000)
    gateway = LLMGateway(llm, run_id="r", rng=random.Random(0), dollar_budget=0.01, spent=0.0)
    done = complete(gateway)
    assert done.call.cost > 0 and gateway.spent == pytest.approx(done.call.cost)


def test_a_call_whose_worst_case_does_not_fit_is_refused_before_sending(fake_llm: FakeOpenAIServer) -> None:
    # gpt-4o-mini: 1000 completion tokens may cost $0.0006, more than the $0.0001 budget
    llm = LLMConfig(models=[ModelSpec(name="openai/gpt-4o-mini", api_base=fake_llm.url)], max_tokens=1000)
    gateway = LLMGateway(llm, run_id="r", rng=random.Random(0), dollar_budget=0.0001, spent=0.0)
    with pytest.raises(BudgetExceeded, match=r"the next call may cost up to \$0\.0006"):
        complete(gateway)
    assert fake_llm.requests == [] and gateway.calls == 0 and gateway.spent == 0.0


# --- ensemble and concurrency -------------------------------------------------------------------


def test_pick_model_is_reproducible_and_follows_weights() -> None:
    llm = LLMConfig(models=[ModelSpec(name="openai/big", weight=3.0), ModelSpec(name="openai/small", weight=1.0)])

    def picks(seed: int) -> list[str]:
        gateway = LLMGateway(llm, run_id="r", rng=random.Random(seed))
        return [gateway.pick_model().name for _ in range(4000)]

    assert picks(11) == picks(11)
    assert picks(11) != picks(12)
    share = Counter(picks(11))["openai/big"] / 4000
    assert 0.72 < share < 0.78


def test_concurrency_limit_is_respected(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply("slow", delay=0.15)])
    gateway = make_gateway(fake_llm, concurrency=2)

    async def six() -> list[Completion]:
        return await asyncio.gather(*(gateway.complete(MESSAGES) for _ in range(6)))

    results = asyncio.run(six())
    assert [r.text for r in results] == ["slow"] * 6
    assert fake_llm.max_in_flight == 2 and gateway.calls == 6


def test_one_gateway_serves_successive_event_loops(fake_llm: FakeOpenAIServer) -> None:
    gateway = make_gateway(fake_llm, concurrency=1)
    assert complete(gateway).text == "ok" and complete(gateway).text == "ok"
    assert gateway.calls == 2


def test_gateway_needs_a_model() -> None:
    with pytest.raises(ValueError, match="llm.models"):
        LLMGateway(LLMConfig(), run_id="r", rng=random.Random(0))


def test_importing_agent_llm_does_not_import_litellm() -> None:
    code = "import sys, agent.llm; assert 'litellm' not in sys.modules, 'litellm imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_fake_server_runs_standalone() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--text", "standalone"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        llm = LLMConfig(models=[ModelSpec(name="openai/fake-model", api_base=url)])
        assert complete(LLMGateway(llm, run_id="r", rng=random.Random(0))).text == "standalone"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
