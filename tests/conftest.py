"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAIServer]:
    """A started fake OpenAI-compatible server (answers "ok" until scripted otherwise)."""
    with FakeOpenAIServer() as server:
        yield server
