"""What can go wrong with an LLM request, and how each failure reads in one line.

`LLMError` and `BudgetExceeded` are the gateway's public errors. `classify` sorts an exception
raised by litellm into retryable (rate limit, 5xx, timeout, connection) or not (bad request,
authentication, unknown model), and words it for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from archives.records import LLMCall


class LLMError(Exception):
    """An LLM request failed after its retries, or could not be retried.

    `call` is the record of the failed call (`call.error` is set); the controller stores it.
    `str()` is one readable line naming the model and what went wrong.
    """

    def __init__(self, message: str, call: LLMCall):
        super().__init__(message)
        self.call = call


class BudgetExceeded(Exception):
    """The dollar budget is spent; raised before a request is sent."""

    def __init__(self, spent: float, budget: float):
        super().__init__(f"LLM budget of ${budget:.2f} reached (spent ${spent:.4f})")
        self.spent = spent
        self.budget = budget


@dataclass(frozen=True)
class Failure:
    """One failed attempt, sorted and worded."""

    message: str
    retryable: bool
    retry_after: float | None = None


_STATUS_WORDS = {
    400: "bad request",
    401: "authentication failed",
    402: "payment required",
    403: "permission denied",
    404: "model or endpoint not found",
    408: "request timed out",
    413: "request too large",
    422: "request not understood",
    429: "rate limited",
}
_PREFIX = re.compile(r"^(litellm\.\w+:\s*|\w+(Error|Exception)(:| -)\s*)+")
_DETAIL_CHARS = 300
_MISSING_KEY = re.compile(r"api[_ ]?key|credential", re.IGNORECASE)


def classify(exc: BaseException, litellm: ModuleType, *, timeout: float, key_hint: str) -> Failure | None:
    """Sort and word an exception from `litellm.acompletion`; None if it is not an API error.

    `key_hint` completes the authentication message, e.g. "check OPENAI_API_KEY".
    """
    import openai  # a litellm dependency, already imported by it

    chain = _chain(exc)  # litellm reports e.g. a refused connection as HTTP 500: look beneath
    local = [e for e in chain[1:] if type(e) in (openai.OpenAIError, ValueError, TypeError, KeyError)]
    if local:  # the client refused before sending (a missing key, a bad setting): not transient
        if _MISSING_KEY.search(str(local[-1])):
            return Failure(_with_detail(f"authentication failed ({key_hint})", local[-1]), retryable=False)
        return Failure(_with_detail("request not sent", local[-1]), retryable=False)
    if any(isinstance(e, (litellm.Timeout, openai.APITimeoutError, TimeoutError)) for e in chain):
        return Failure(f"timed out after {timeout:g} s", retryable=True)
    if any(isinstance(e, (litellm.APIConnectionError, openai.APIConnectionError)) for e in chain):
        os_errors = [e for e in chain if isinstance(e, OSError)]
        return Failure(_with_detail("connection failed", os_errors[-1] if os_errors else exc), retryable=True)
    status = _status_of(exc)
    if not isinstance(exc, openai.OpenAIError) and not type(exc).__module__.startswith("litellm"):
        return None
    if status is None:
        return Failure(_with_detail(type(exc).__name__, exc), retryable=False)
    words = _STATUS_WORDS.get(status, "server error" if status >= 500 else "error")
    if status == 401:
        words = f"{words} ({key_hint})"
    retryable = status in (408, 409, 429) or status >= 500
    retry_after = _retry_after(exc) if retryable else None
    return Failure(_with_detail(f"HTTP {status} {words}", exc), retryable, retry_after)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or while handling, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and 100 <= status < 600 else None


def _with_detail(head: str, exc: BaseException) -> str:
    """`head`, then the server's own message when it adds something."""
    raw = getattr(exc, "message", None) or str(exc)
    detail = " ".join(_PREFIX.sub("", str(raw)).split())
    if len(detail) > _DETAIL_CHARS:
        detail = detail[: _DETAIL_CHARS - 3] + "..."
    if not detail or detail.lower() in head.lower():
        return head
    return f"{head}: {detail}"


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said."""
    for source in (getattr(exc, "litellm_response_headers", None), getattr(exc, "headers", None)):
        headers: Any = source
        if not headers:
            continue
        for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            value = headers.get(key) or headers.get(key.title())
            try:
                seconds = float(value) * scale
            except (TypeError, ValueError):
                continue  # absent, or an HTTP date: fall back to our own backoff
            if seconds >= 0:
                return seconds
    return None
