"""The sandbox protocol: run one untrusted job in isolation and hand back what it produced.

The sandbox knows nothing of kernels or programs. A job is an argv, some files to put in a
fresh private working directory, and limits. The trusted harness inside the job writes its
result to the result channel (see `sandbox.channel`); the sandbox returns those bytes in
`SandboxOutcome.result` and never parses what the job printed.

Whatever the job does is an outcome, never an exception. Two exceptions are the sandbox's own:
`SandboxError` (it could not set up or start this job) and its kind `SandboxUnavailable` (the
backend itself went away, e.g. the Docker daemon stopped answering: no job can run on it now,
and the job in flight was not judged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sandbox.errors import SandboxError, SandboxUnavailable

__all__ = ["Limits", "Sandbox", "SandboxError", "SandboxJob", "SandboxOutcome", "SandboxUnavailable"]


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60.0
    memory_mb: int = 4096
    max_processes: int = 64
    output_bytes: int = 256_000  # per stream; the rest is dropped and the outcome says so
    disk_mb: int = 512  # largest file the job may write


@dataclass(frozen=True)
class SandboxJob:
    argv: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)  # relative path -> content
    env: dict[str, str] = field(default_factory=dict)  # added to a scrubbed environment
    limits: Limits = field(default_factory=Limits)
    gpu: int | None = None  # GPU index the job may use; None: no GPU
    label: str = ""  # shown in logs (e.g. the program id)
    # Host files and folders the job reads (its evaluator, packages it imports): container
    # backends mount them read-only at the same path; the process backend keeps them readable
    # where it hides their surroundings (sandbox/_hide.py).
    read_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxOutcome:
    exit_code: int | None  # None when killed before it exited
    result: bytes | None  # what the harness wrote to the result channel; None if nothing
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    killed_reason: str | None = None  # "timeout" | "memory" | "output" | "signal N" | ...
    output_truncated: bool = False
    seconds: float = 0.0
    backend: str | None = None  # the backend that ran it ("docker", "process", ...)


@runtime_checkable
class Sandbox(Protocol):
    name: str

    def warnings(self) -> list[str]:
        """Isolation this backend could not provide on this machine, one line each."""
        ...

    def run(self, job: SandboxJob) -> SandboxOutcome:
        """Run the job to completion (blocking); never raises for anything the job does.

        Raises SandboxError when the sandbox could not run the job, SandboxUnavailable when the
        backend itself is gone."""
        ...
