"""Where untrusted code runs: the sandbox protocol, its backends, and the result channel."""

from sandbox.base import Limits, Sandbox, SandboxJob, SandboxOutcome
from sandbox.channel import ResultChannel, open_result_channel
from sandbox.process import ProcessSandbox, SandboxError

__all__ = [
    "Limits",
    "ProcessSandbox",
    "ResultChannel",
    "Sandbox",
    "SandboxError",
    "SandboxJob",
    "SandboxOutcome",
    "make_sandbox",
    "open_result_channel",
]

_BACKENDS = ("auto", "process")


def make_sandbox(backend: str) -> Sandbox:
    """The sandbox for a `sandbox.backend` setting: "auto" picks the strongest one available.

    Only the process backend exists so far, so "auto" gives it; a Docker backend will be
    preferred by "auto" wherever a daemon answers.
    """
    if backend in ("auto", "process"):
        return ProcessSandbox()
    raise ValueError(f"unknown sandbox backend {backend!r}; expected one of: {', '.join(_BACKENDS)}")
