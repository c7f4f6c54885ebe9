"""Talking to the Docker daemon: connecting, asking whether it answers, and naming what failed.

The Docker SDK raises many kinds of error for one cause: `requests`' ConnectionError wrapping
urllib3's errors wrapping an OSError when the socket is gone, `docker.errors.APIError` when the
daemon answered with an error, bare OSErrors from an attach socket. `daemon_errors()` is the
tuple to catch them all; `describe` turns any of them into one line (the OS's reason where
there is one, never a traceback); `unavailable` tells the daemon's own failure (no answer, a
server error) from an error about one job.
"""

from __future__ import annotations

import http.client
import os

from sandbox.base import SandboxError, SandboxUnavailable

PING_SECONDS = 3.0
_DEFAULT_HOST = "unix:///var/run/docker.sock"


def connect(timeout: float = 60.0):
    """A low-level client of the daemon named by the environment (DOCKER_HOST, ...)."""
    import docker

    return docker.from_env(timeout=timeout, max_pool_size=32).api


def daemon_address() -> str:
    return os.environ.get("DOCKER_HOST") or _DEFAULT_HOST


def daemon_errors() -> tuple[type[BaseException], ...]:
    """Every error the SDK raises for a failed exchange with the daemon (requests' are OSErrors)."""
    import docker.errors
    import urllib3.exceptions

    return (docker.errors.DockerException, OSError, urllib3.exceptions.HTTPError, http.client.HTTPException)


def ping_reason(api=None, timeout: float = PING_SECONDS) -> str | None:
    """None when the daemon answers a ping, else one line saying why not.

    Without `api`, a fresh client with a short timeout asks the daemon the environment names.
    """
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the docker Python package is not installed"
    try:
        if api is not None:
            api.ping()
            return None
        client = connect(timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - whatever the SDK raises means: no answer
        return describe(exc)
    return None


def stopped_answering(reason: str) -> SandboxUnavailable:
    return SandboxUnavailable(f"the Docker daemon stopped answering ({daemon_address()}: {reason})", backend="docker")


def unavailable(exc: BaseException, what: str, api=None) -> SandboxError:
    """The error to raise for `exc`, met while doing `what` for a job: SandboxUnavailable when
    the daemon no longer answers or failed itself (a server error), else SandboxError."""
    import docker.errors

    reason = ping_reason(api)
    if reason is not None:
        return stopped_answering(reason)
    if isinstance(exc, docker.errors.APIError) and exc.is_server_error():
        return SandboxUnavailable(f"the Docker daemon failed ({what}: {describe(exc)})", backend="docker")
    return SandboxError(f"{what}: {describe(exc)}")


def describe(exc: BaseException) -> str:
    """One line for an error of an exchange with the daemon: the innermost OS reason if any."""
    seen: set[int] = set()
    queue = [exc]
    while queue:
        error = queue.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
        queue.extend(a for a in getattr(error, "args", ()) if isinstance(a, BaseException))
        queue.extend(e for e in (error.__cause__, error.__context__, getattr(error, "reason", None))
                     if isinstance(e, BaseException))
    return one_line(exc)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]
