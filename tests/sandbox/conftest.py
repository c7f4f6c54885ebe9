"""Sandboxes for the sandbox tests: the process backend, and Docker where a daemon answers.

Without a Docker daemon the Docker tests are skipped with a loud reason, unless
EVOFORGE_REQUIRE_DOCKER=1 (set by .ci/run once it started a daemon): then they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import DockerSandbox, ProcessSandbox, SandboxError, choose_sandbox
from sandbox.base import Sandbox


def docker_sandbox_or_skip() -> DockerSandbox:
    try:
        return choose_sandbox("docker")[0].current  # the Docker backend itself, not its fallback wrapper
    except SandboxError as exc:
        message = f"!!! NO DOCKER DAEMON: the Docker sandbox tests did NOT run ({exc}) !!!"
        if os.environ.get("EVOFORGE_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def docker_sandbox() -> Sandbox:
    return docker_sandbox_or_skip()


@pytest.fixture(scope="module", params=["process", "docker"])
def any_sandbox(request) -> Sandbox:
    """Each backend in turn: every test that takes it runs against both."""
    if request.param == "process":
        return ProcessSandbox()
    return docker_sandbox_or_skip()


@pytest.fixture(scope="module", params=["process", "docker", "docker-fresh"])
def every_sandbox(request) -> Iterator[Sandbox]:
    """Each backend, and Docker both reusing containers (its default) and not."""
    if request.param == "process":
        yield ProcessSandbox()
        return
    docker_sandbox_or_skip()
    sandbox = DockerSandbox(reuse=request.param == "docker")
    yield sandbox
    sandbox.cancel_all()


@pytest.fixture
def shared_tmp(tmp_path: Path) -> Path:
    """tmp_path, readable to others (pytest makes it 700): a container's user may read it."""
    tmp_path.chmod(0o755)
    return tmp_path
