"""The preflight against the fake OpenAI server over real HTTP: one line per cause, a bounded wait."""

from __future__ import annotations

import socket
import time

import pytest

from agent.config import LLMConfig, ModelSpec
from agent.failures import RunFailed
from agent.llm import preflight
from agent.llm.gateway import PROBE_PROMPT
from tests.fakes.openai_server import FakeOpenAIServer, Reply


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def llm_at(url: str, name: str = "openai/fake-model", **config: object) -> LLMConfig:
    return LLMConfig(models=[ModelSpec(name=name, api_base=url)], **config)


def preflight_error(llm: LLMConfig, **kwargs: object) -> str:
    with pytest.raises(RunFailed) as info:
        preflight(llm, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("LLM preflight failed, no run started: ")
    return message


@pytest.fixture
def scripted() -> FakeOpenAIServer:
    with FakeOpenAIServer(script_probes=True) as server:
        yield server


def test_a_healthy_model_passes_with_one_tiny_request(scripted: FakeOpenAIServer) -> None:
    assert preflight(llm_at(scripted.url)) == ()
    (request,) = scripted.requests
    assert request["messages"] == [{"role": "user", "content": PROBE_PROMPT}] and request["max_tokens"] == 8


def test_no_model_means_no_preflight() -> None:
    assert preflight(LLMConfig()) == ()


def test_a_vendor_model_without_its_key_fails_before_anything_is_sent(
    scripted: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # Were a request sent, it would reach the fake server: litellm reads these variables.
    monkeypatch.setenv("OPENAI_API_BASE", scripted.url)
    monkeypatch.setenv("OPENAI_BASE_URL", scripted.url)
    message = preflight_error(LLMConfig(models=["openai/gpt-4o-mini"]))
    assert "openai/gpt-4o-mini: no API key: OPENAI_API_KEY is not set" in message
    assert scripted.requests == []


def test_a_missing_api_key_env_is_named(scripted: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOFORGE_NO_SUCH_KEY", raising=False)
    spec = ModelSpec(name="openai/fake-model", api_base=scripted.url, api_key_env="EVOFORGE_NO_SUCH_KEY")
    message = preflight_error(LLMConfig(models=[spec]))
    assert "openai/fake-model: environment variable EVOFORGE_NO_SUCH_KEY is not set" in message
    assert scripted.requests == []


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(status=401, error_message="Incorrect API key provided"),
         "openai/fake-model: HTTP 401 authentication failed (the server at"),
        (Reply(status=404, error_message="The model `fake-model` does not exist"),
         "openai/fake-model: HTTP 404 model or endpoint not found: The model `fake-model` does not exist"),
        (Reply(status=429, error_message="You exceeded your current quota", error_type="insufficient_quota"),
         "openai/fake-model: HTTP 429 quota exceeded"),
        (Reply(body="<html>sign in</html>", content_type="text/html"), "openai/fake-model: malformed answer, an HTML page"),
    ],
    ids=["401", "404", "quota", "html"],
)
def test_a_refusing_server_is_named_after_one_request(scripted: FakeOpenAIServer, reply: Reply, words: str) -> None:
    scripted.set_replies([reply])
    assert words in preflight_error(llm_at(scripted.url))
    assert len(scripted.requests) == 1


def test_a_rate_limit_or_an_empty_answer_passes(scripted: FakeOpenAIServer) -> None:
    scripted.set_replies([Reply(status=429, error_message="Rate limit reached")])
    preflight(llm_at(scripted.url))
    scripted.set_replies([Reply(None, finish_reason="length")])  # a reasoning model spent its 8 tokens thinking
    preflight(llm_at(scripted.url))


def test_a_server_error_is_tried_once_more(scripted: FakeOpenAIServer) -> None:
    scripted.set_replies([Reply(status=503), "OK"])
    preflight(llm_at(scripted.url))
    assert len(scripted.requests) == 2


def test_a_closed_port_fails_quickly_naming_the_url() -> None:
    url = closed_port_url()
    started = time.monotonic()
    message = preflight_error(llm_at(url))
    assert f"openai/fake-model: cannot reach {url}: connection failed" in message
    assert time.monotonic() - started < 30


def test_a_silent_server_is_given_up_on_after_the_preflight_wait(scripted: FakeOpenAIServer) -> None:
    scripted.set_replies([Reply(delay=120)])
    started = time.monotonic()
    message = preflight_error(llm_at(scripted.url, preflight_seconds=1.5))
    assert "openai/fake-model: no answer within 1.5 s" in message
    assert time.monotonic() - started < 30  # 1.5 s, plus litellm's import on a busy machine


def test_the_wall_budget_bounds_the_wait(scripted: FakeOpenAIServer) -> None:
    scripted.set_replies([Reply(delay=120)])
    assert "no answer within 2 s" in preflight_error(llm_at(scripted.url), wall_seconds=4)


def test_every_failing_model_is_named_on_one_line(scripted: FakeOpenAIServer) -> None:
    scripted.set_replies([Reply(status=401)])
    url = closed_port_url()
    llm = LLMConfig(models=[ModelSpec(name="openai/a", api_base=scripted.url), ModelSpec(name="openai/b", api_base=url)])
    message = preflight_error(llm)
    assert "openai/a: HTTP 401" in message and f"; openai/b: cannot reach {url}" in message


def test_preflight_seconds_zero_skips_it(scripted: FakeOpenAIServer) -> None:
    scripted.set_replies([Reply(status=401)])
    preflight(llm_at(scripted.url, preflight_seconds=0))
    assert scripted.requests == []


def test_a_dollar_budget_warns_of_models_it_cannot_price(scripted: FakeOpenAIServer) -> None:
    llm = LLMConfig(models=[ModelSpec(name="openai/my-local", api_base=scripted.url),
                            ModelSpec(name="openai/gpt-4o-mini", api_base=scripted.url)])  # fmt: skip
    notes = preflight(llm, dollars=1.0)
    assert notes == ("openai/my-local has no price in litellm's price map: its calls count as $0 against budget.dollars",)
    assert preflight(llm) == ()
