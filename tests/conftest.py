"""Shared pytest fixtures."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def _baselines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("baselines")


@pytest.fixture(autouse=True)
def _private_baselines(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _baselines_dir: Path) -> None:
    """Each test its own baselines cache (evaluators/kernel/baseline_cache.py), never the user's:
    a time one test scripted is never read by another, nor by a real run."""
    name = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    monkeypatch.setenv("EVOFORGE_BASELINES", str(_baselines_dir / f"{name}.json"))
