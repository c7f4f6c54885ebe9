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


@pytest.fixture(autouse=True, scope="session")
def _private_gpu_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """GPU lock files of the tests' own (sandbox/gpus.py), not the machine's shared folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EVOFORGE_GPU_LOCK_DIR", str(tmp_path_factory.mktemp("gpu-locks")))
    yield
    mp.undo()
