"""What can go wrong with an LLM request, and how each failure reads in one line.

`LLMError` and `BudgetExceeded` are the gateway's public errors. `classify` sorts an exception
raised by litellm into a `Kind`, retryable (rate limit, 5xx, timeout, connection) or not
(authentication, quota, unknown model, a malformed answer, a bad request), and words it for
the user. A 200 whose body is not a chat completion (not JSON, an HTML page, no `choices`) is
named for what it is, not by the "HTTP 500" litellm reports for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from archives.records import LLMCall


class Kind:
    """Why an LLM call failed, in a word (`Failure.kind`, `LLMError.kind`)."""

    AUTH = "auth"  # no key, 401, 403
    QUOTA = "quota"  # 402, 429 insufficient_quota: the account cannot pay
    UNKNOWN_MODEL = "unknown_model"  # 404: no such model (or endpoint)
    CONNECTION = "connection"  # refused, unreachable, reset
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"  # 429 (not quota)
    SERVER = "server"  # 5xx
    BAD_REQUEST = "bad_request"  # 400, 413, 422, or the client refused to send
    MALFORMED = "malformed"  # a 200 that is not a chat completion
    EMPTY = "empty"  # a chat completion without text
    TOO_LARGE = "too_large"  # an answer over llm.max_answer_chars
    OTHER = "other"


EXTERNAL_KINDS = frozenset({Kind.AUTH, Kind.QUOTA, Kind.UNKNOWN_MODEL, Kind.CONNECTION, Kind.MALFORMED})
"""Causes outside the run that another call will meet again: a streak of them stops the run."""


class LLMError(Exception):
    """An LLM request failed after its retries, or could not be retried.

    `call` is the record of the failed call (`call.error` is set); the controller stores it.
    `kind` sorts the failure (a `Kind` value). `str()` is one readable line naming the model
    and what went wrong.
    """

    def __init__(self, message: str, call: LLMCall, kind: str = Kind.OTHER):
        super().__init__(message)
        self.call = call
        self.kind = kind


class BudgetExceeded(Exception):
    """The dollar budget cannot pay for the next call; raised before a request is sent."""

    def __init__(self, spent: float, budget: float, needed: float | None = None):
        tail = f"; the next call may cost up to ${needed:.4f}" if needed else ""
        super().__init__(f"LLM budget of ${budget:.2f} reached (spent ${spent:.4f}{tail})")
        self.spent = spent
        self.budget = budget
        self.needed = needed


@dataclass(frozen=True)
class Failure:
    """One failed attempt, sorted and worded."""

    message: str
    retryable: bool
    retry_after: float | None = None
    kind: str = Kind.OTHER


_STATUS_WORDS = {
    400: ("bad request", Kind.BAD_REQUEST),
    401: ("authentication failed", Kind.AUTH),
    402: ("payment required", Kind.QUOTA),
    403: ("permission denied", Kind.AUTH),
    404: ("model or endpoint not found", Kind.UNKNOWN_MODEL),
    408: ("request timed out", Kind.TIMEOUT),
    413: ("request too large", Kind.BAD_REQUEST),
    422: ("request not understood", Kind.BAD_REQUEST),
    429: ("rate limited", Kind.RATE_LIMIT),
}
_PREFIX = re.compile(r"^(litellm\.\w+:\s*|\w+(Error|Exception)(:| -)\s*)+")
_DETAIL_CHARS = 300
_MISSING_KEY = re.compile(r"api[_ ]?key|credential", re.IGNORECASE)
_QUOTA = re.compile(r"insufficient_quota|exceeded your current quota|billing|credit balance|out of credits", re.I)
# litellm's words for a 200 it could not read as a chat completion (checked against litellm 1.x)
_NOT_A_COMPLETION = re.compile(r"Empty or invalid response from LLM endpoint\. Received: '(.*?)(?:'\. Check|$)", re.S)
_NO_CHOICES = "provider returned 'choices'"


def classify(exc: BaseException, litellm: ModuleType, *, timeout: float, key_hint: str) -> Failure | None:
    """Sort and word an exception from `litellm.acompletion`; None if it is not an API error.

    `key_hint` completes the authentication message, e.g. "check OPENAI_API_KEY".
    """
    import openai  # a litellm dependency, already imported by it

    chain = _chain(exc)  # litellm reports e.g. a refused connection as HTTP 500: look beneath
    local = [e for e in chain[1:] if type(e) in (openai.OpenAIError, ValueError, TypeError, KeyError)]
    if local:  # the client refused before sending (a missing key, a bad setting): not transient
        if _MISSING_KEY.search(str(local[-1])):
            return Failure(_with_detail(f"authentication failed ({key_hint})", local[-1]), False, kind=Kind.AUTH)
        return Failure(_with_detail("request not sent", local[-1]), False, kind=Kind.BAD_REQUEST)
    malformed = _malformed(chain)
    if malformed is not None:
        return malformed
    if any(isinstance(e, (litellm.Timeout, openai.APITimeoutError, TimeoutError)) for e in chain):
        return Failure(f"timed out after {timeout:g} s", True, kind=Kind.TIMEOUT)
    if any(isinstance(e, (litellm.APIConnectionError, openai.APIConnectionError)) for e in chain):
        os_errors = [e for e in chain if isinstance(e, OSError)]
        failure = _with_detail("connection failed", os_errors[-1] if os_errors else exc)
        return Failure(failure, True, kind=Kind.CONNECTION)
    status = _status_of(exc)
    if not isinstance(exc, openai.OpenAIError) and not type(exc).__module__.startswith("litellm"):
        return None
    if status is None:
        return Failure(_with_detail(type(exc).__name__, exc), False, kind=Kind.OTHER)
    words, kind = _STATUS_WORDS.get(status, ("server error" if status >= 500 else "error", Kind.OTHER))
    if status >= 500:
        kind = Kind.SERVER
    if status in (402, 429) and any(_QUOTA.search(str(e)) for e in chain):
        words, kind = "quota exceeded", Kind.QUOTA
    if kind == Kind.AUTH:
        words = f"{words} ({key_hint})"
    retryable = kind in (Kind.TIMEOUT, Kind.RATE_LIMIT, Kind.SERVER) or status == 409
    retry_after = _retry_after(exc) if retryable else None
    return Failure(_with_detail(f"HTTP {status} {words}", exc), retryable, retry_after, kind)


def _malformed(chain: list[BaseException]) -> Failure | None:
    """A 200 whose body was not a chat completion: not JSON, an HTML page, no choices."""
    import json

    for e in chain:
        if isinstance(e, json.JSONDecodeError):
            return Failure(f"malformed answer, not valid JSON: {e.msg} at char {e.pos}", False,
                           kind=Kind.MALFORMED)  # fmt: skip
    for e in chain:
        found = _NOT_A_COMPLETION.search(str(e))
        if found:
            received = found.group(1).lstrip()
            what = "an HTML page" if received.startswith("<") else "not a chat completion"
            snippet = " ".join(received.split())[:80]
            return Failure(f"malformed answer, {what}: starts {snippet!r}", False, kind=Kind.MALFORMED)
    for e in chain:
        if _NO_CHOICES in str(e):
            return Failure("malformed answer, no 'choices' in the body", False, kind=Kind.MALFORMED)
    return None


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
