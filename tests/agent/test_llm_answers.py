"""What the gateway makes of answers that are not usable, and of failures a retry cannot mend,
against the fake OpenAI server over real HTTP: each is named for what it is and sorted by kind."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from agent.config import LLMConfig, ModelSpec
from agent.llm import Kind, LLMError, LLMGateway
from tests.fakes.openai_server import FakeOpenAIServer, Reply

MESSAGES = [{"role": "user", "content": "Make it faster."}]


async def _no_wait(seconds: float) -> None:
    pass


def gateway_for(server: FakeOpenAIServer, **config: object) -> LLMGateway:
    settings = {"retries": 3, "timeout_seconds": 10.0, "max_tokens": 64, **config}
    llm = LLMConfig(models=[ModelSpec(name="openai/fake-model", api_base=server.url)], **settings)
    return LLMGateway(llm, run_id="r", rng=random.Random(0), sleep=_no_wait)


def failure_of(server: FakeOpenAIServer, reply: Reply, **config: object) -> LLMError:
    server.set_replies([reply])
    with pytest.raises(LLMError) as info:
        asyncio.run(gateway_for(server, **config).complete(MESSAGES))
    return info.value


COMPLETION_WITHOUT_CHOICES = json.dumps(
    {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "usage": {"prompt_tokens": 1}}
)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(body='{"id": "x", "choices": [ {'), "malformed answer, not valid JSON"),
        (Reply(body="<html><body>Welcome to nginx</body></html>", content_type="text/html"),
         "malformed answer, an HTML page: starts '<html><body>Welcome to nginx"),
        (Reply(body="just some text", content_type="text/plain"), "malformed answer, not a chat completion"),
        (Reply(body=COMPLETION_WITHOUT_CHOICES), "malformed answer, no 'choices' in the body"),
        (Reply(body=json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []})),
         "malformed answer, no 'choices' in the body"),
    ],
    ids=["invalid-json", "html", "plain-text", "no-choices", "empty-choices"],
)
def test_a_malformed_200_is_named_and_not_retried(fake_llm: FakeOpenAIServer, reply: Reply, words: str) -> None:
    error = failure_of(fake_llm, reply)
    assert str(error).startswith(f"openai/fake-model: {words}"), str(error)
    assert "HTTP 500" not in str(error) and "\n" not in str(error)
    assert error.kind == Kind.MALFORMED and error.call.attempts == 1 and len(fake_llm.requests) == 1


def test_an_answer_cut_off_by_max_tokens_before_any_text_is_not_retried(fake_llm: FakeOpenAIServer) -> None:
    error = failure_of(fake_llm, Reply(None, finish_reason="length"))
    assert "empty answer (max_tokens 64 reached before any text)" in str(error)
    assert error.kind == Kind.EMPTY and len(fake_llm.requests) == 1


def test_an_answer_withheld_by_a_content_filter_is_not_retried(fake_llm: FakeOpenAIServer) -> None:
    error = failure_of(fake_llm, Reply("", finish_reason="content_filter"))
    assert "content filter" in str(error) and len(fake_llm.requests) == 1


def test_a_huge_answer_is_refused_and_only_a_prefix_is_stored(fake_llm: FakeOpenAIServer) -> None:
    huge = "x = 1\n" * 900_000  # 5.4 MB
    error = failure_of(fake_llm, Reply(huge), max_answer_chars=100_000)
    assert "answer too large (over llm.max_answer_chars, 100,000): 5,400,000 characters" in str(error)
    assert error.kind == Kind.TOO_LARGE and len(fake_llm.requests) == 1
    assert error.call.response == huge[:8000] and error.call.completion_tokens > 0


def test_an_answer_within_the_cap_is_used(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies(["y" * 5000])
    done = asyncio.run(gateway_for(fake_llm, max_answer_chars=5000).complete(MESSAGES))
    assert done.text == "y" * 5000


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (Reply(status=401), Kind.AUTH, "HTTP 401 authentication failed"),
        (Reply(status=403), Kind.AUTH, "HTTP 403 permission denied"),
        (Reply(status=404, error_message="The model `nope` does not exist"), Kind.UNKNOWN_MODEL,
         "HTTP 404 model or endpoint not found: The model `nope` does not exist"),
        (Reply(status=402), Kind.QUOTA, "HTTP 402 quota exceeded"),
        (Reply(status=429, error_message="You exceeded your current quota, please check your plan and billing",
               error_type="insufficient_quota"), Kind.QUOTA, "HTTP 429 quota exceeded"),
        (Reply(status=400), Kind.BAD_REQUEST, "HTTP 400 bad request"),
    ],
    ids=["401", "403", "404", "402", "429-quota", "400"],
)
def test_failures_a_retry_cannot_mend_are_sorted_and_sent_once(
    fake_llm: FakeOpenAIServer, reply: Reply, kind: str, words: str
) -> None:
    error = failure_of(fake_llm, reply)
    assert error.kind == kind and words in str(error), str(error)
    assert len(fake_llm.requests) == 1


def test_a_plain_rate_limit_is_still_retried(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.set_replies([Reply(status=429, error_message="Rate limit reached for requests"), "fine"])
    done = asyncio.run(gateway_for(fake_llm).complete(MESSAGES))
    assert done.text == "fine" and done.call.attempts == 2


def test_transient_failures_keep_their_kind(fake_llm: FakeOpenAIServer) -> None:
    assert failure_of(fake_llm, Reply(status=503), retries=1).kind == Kind.SERVER
    assert failure_of(fake_llm, Reply(delay=2.0), retries=0, timeout_seconds=0.3).kind == Kind.TIMEOUT
    server = FakeOpenAIServer().start()
    gateway = gateway_for(server, retries=0)
    server.stop()
    with pytest.raises(LLMError) as info:
        asyncio.run(gateway.complete(MESSAGES))
    assert info.value.kind == Kind.CONNECTION
