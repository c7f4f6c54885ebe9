"""Where untrusted code runs: the sandbox protocol, its backends, and the result channel."""

from __future__ import annotations

import os
import threading

from sandbox.base import Limits, Sandbox, SandboxJob, SandboxOutcome
from sandbox.channel import ResultChannel, open_result_channel
from sandbox.docker import DockerSandbox
from sandbox.errors import SandboxError, SandboxUnavailable
from sandbox.fallback import FallbackSandbox
from sandbox.process import ProcessSandbox

__all__ = [
    "BACKENDS",
    "DockerSandbox",
    "FallbackSandbox",
    "Limits",
    "ProcessSandbox",
    "ResultChannel",
    "Sandbox",
    "SandboxError",
    "SandboxJob",
    "SandboxOutcome",
    "SandboxUnavailable",
    "choose_sandbox",
    "describe_sandbox",
    "make_sandbox",
    "open_result_channel",
]

BACKENDS: dict[str, str] = {
    "auto": "sandbox.fallback:FallbackSandbox",  # Docker where a daemon answers, else the process backend
    "docker": "sandbox.docker:DockerSandbox",
    "process": "sandbox.process:ProcessSandbox",
}
"""The built-in backends, chosen by `choose_sandbox`; any other `sandbox.backend` is a plugin
resolved by agent/plugins.py (a dotted path or an `evoforge.sandboxes` entry point)."""
_docker_cache: dict[tuple, DockerSandbox | SandboxError] = {}
_docker_lock = threading.Lock()


def choose_sandbox(
    backend: str = "auto", *, image: str | None = None, image_python: str = "python3", cpus: float | None = None,
    reuse: bool = True, options: dict | None = None,
) -> tuple[Sandbox, str | None]:
    """The sandbox for a `sandbox.backend` setting, and a one-line notice when "auto" fell back.

    "auto" gives Docker wherever a daemon answers within a few seconds and a test container
    runs (checked once per process and settings), else the process backend. "docker" raises
    SandboxError (one line) when Docker cannot be used. Docker comes as a `FallbackSandbox`:
    should the daemon go away mid-run, "auto" may move to the process backend, "docker" may not.
    Any other name is a plugin backend: the registry's object called with `options` as keyword
    arguments (`sandbox.options`); ValueError (one line) when it cannot be resolved or made.
    """
    if backend not in BACKENDS:
        return _plugin_sandbox(backend, options or {}), None
    if backend == "process":
        return ProcessSandbox(), None
    try:
        docker = _checked_docker(image, image_python, cpus, reuse)
    except SandboxError as exc:
        if backend == "docker":
            raise
        return ProcessSandbox(), (f"sandbox.backend auto: Docker is not usable here ({exc}); evaluating on the "
                                  "process backend (set sandbox.backend: docker to refuse instead)")
    return FallbackSandbox(docker, ProcessSandbox if backend == "auto" else None, setting=backend), None


def _plugin_sandbox(backend: str, options: dict) -> Sandbox:
    from agent.plugins import PluginError, resolve  # a standard-library-only module

    try:
        factory = resolve("sandboxes", backend)
    except PluginError as exc:
        raise ValueError(str(exc)) from None
    try:
        sandbox = factory(**options)
    except TypeError as exc:
        raise ValueError(f"sandbox backend {backend!r} does not take these sandbox.options: {exc}") from None
    if not isinstance(sandbox, Sandbox):
        raise ValueError(f"sandbox backend {backend!r} does not follow the Sandbox protocol (sandbox/base.py)")
    return sandbox


def make_sandbox(backend: str = "auto", **docker_options) -> Sandbox:
    """The sandbox `choose_sandbox` picks, without its notice."""
    return choose_sandbox(backend, **docker_options)[0]


def describe_sandbox(sandbox: Sandbox) -> str:
    """One line naming the backend (and, for Docker, its image)."""
    return str(getattr(sandbox, "description", sandbox.name))


def _checked_docker(image: str | None, image_python: str, cpus: float | None, reuse: bool) -> DockerSandbox:
    key = (image, image_python, cpus, reuse, os.environ.get("DOCKER_HOST"))
    with _docker_lock:
        if key not in _docker_cache:
            try:
                _ping()
                sandbox = DockerSandbox(image=image, image_python=image_python, cpus=cpus, reuse=reuse)
                sandbox.check()
                _docker_cache[key] = sandbox
            except SandboxError as exc:
                _docker_cache[key] = exc
        found = _docker_cache[key]
    if isinstance(found, SandboxError):
        raise found
    return found


def _ping() -> None:
    """Raises SandboxError unless a Docker daemon answers within a few seconds."""
    from sandbox._docker_daemon import daemon_address, ping_reason

    reason = ping_reason()
    if reason == "the docker Python package is not installed":
        raise SandboxError(reason)
    if reason is not None:
        raise SandboxError(f"no Docker daemon answered ({daemon_address()}: {reason})")
