"""The LLM gateway: one place where chat requests leave the process.

`LLMGateway.complete` sends chat messages to a model of the ensemble through litellm, with a
limit on requests in flight, retries with backoff on transient failures (only those: a retry
cannot mend a refused key or a malformed answer), a dollar budget that reserves each call's
worst case before sending it, a cap on an answer's size, and a `LLMCall` record for every call,
successful or not. `probe` is the preflight's tiny request. It knows nothing of programs or
archives: the controller links calls to programs and stores the records.

litellm is imported on the first request, not with this module: its import takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from agent.config import LLMConfig, ModelSpec
from agent.llm.errors import BudgetExceeded, Failure, Kind, LLMError, classify
from agent.llm.ledger import DollarLedger
from agent.llm.pricing import cost_of, worst_case_cost
from archives.records import LLMCall

Sleep = Callable[[float], Awaitable[Any]]

_BACKOFF_BASE = 1.0  # seconds before the first retry (before jitter)
_BACKOFF_CAP = 30.0  # longest wait of our own backoff
_RETRY_AFTER_CAP = 120.0  # longest wait a server's Retry-After may impose
_PLACEHOLDER_KEY = "sk-no-key-needed"  # local OpenAI-compatible servers want some key
PROBE_PROMPT = "Reply with the word OK."  # the preflight's whole request (tests' fakes know it)
_PROBE_TOKENS = 8  # the preflight's answer: enough for any model to say something
_STORED_PREFIX_CHARS = 8000  # what is kept of an answer refused for its size
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")

_litellm: ModuleType | None = None


def _load_litellm() -> ModuleType:
    """Import litellm once, offline-safe and quiet."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        for name in _LITELLM_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _litellm = litellm
    return _litellm


@dataclass(frozen=True)
class Completion:
    """A successful answer: its text and the record of the call (`call.error` is None)."""

    text: str
    call: LLMCall


class LLMGateway:
    """Sends chat requests to the configured ensemble and keeps the ledger.

    One gateway serves one run. `pick_model` draws a model by weight from the seeded `rng`, so
    a run's choice of models is reproducible. `complete` may be awaited from many tasks at once;
    at most `config.concurrency` requests are in flight. `spent` starts at the `spent` given
    (a resumed run passes what it spent before) and grows by each call's cost. With a
    `dollar_budget`, each request first reserves its worst-case cost (agent/llm/ledger.py) and
    `complete` raises `BudgetExceeded`, without sending anything, for a call the budget cannot
    pay. An answer longer than `config.max_answer_chars` is refused. `sleep` is awaited between
    retries; tests pass a fake.

    `ledger`, when given, is used instead of a new one (then `dollar_budget` and `spent` are the
    ledger's own): gateways of one run (the proposer's, a prompt task's target model) share it,
    so all their calls count against one budget. `purpose` is recorded in every `LLMCall`
    ("proposer", "target", "judge"), so the spend can be shown apart.
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        run_id: str,
        rng: random.Random,
        dollar_budget: float | None = None,
        spent: float = 0.0,
        sleep: Sleep = asyncio.sleep,
        ledger: DollarLedger | None = None,
        purpose: str = "proposer",
    ):
        if not config.models:
            raise ValueError("LLMGateway needs at least one model (llm.models is empty)")
        self._config = config
        self._run_id = run_id
        self._rng = rng
        self._ledger = ledger if ledger is not None else DollarLedger(dollar_budget, spent)
        self._purpose = purpose
        self._calls = 0
        self._sleep = sleep
        self._jitter = random.Random()  # apart from `rng`: retries must not shift model picks
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    @property
    def spent(self) -> float:
        """US dollars spent so far, including what was spent before a resume."""
        return self._ledger.spent

    @property
    def calls(self) -> int:
        """Calls made through this gateway (successful or not; budget refusals not counted)."""
        return self._calls

    def pick_model(self) -> ModelSpec:
        """A model of the ensemble, drawn by weight from the gateway's seeded rng."""
        models = self._config.models
        if len(models) == 1:
            return models[0]
        return self._rng.choices(models, weights=[m.weight for m in models])[0]

    async def complete(self, messages: list[dict], model: ModelSpec | None = None) -> Completion:
        """Send `messages` to `model` (default: `pick_model()`) and return the answer.

        Retries rate limits, server errors, timeouts, connection failures and empty answers up
        to `config.retries` times with exponential backoff; raises `LLMError` (with the call's
        record and its `kind`) when the call fails for good, `BudgetExceeded` when the dollar
        budget cannot pay for it (see agent/llm/ledger.py).
        """
        spec = model if model is not None else self.pick_model()
        self._ledger.check()
        prompt = json.dumps(messages, ensure_ascii=False)
        try:
            kwargs = self._request_kwargs(spec, messages)
        except _MissingKey as exc:
            self._calls += 1
            call = self._record(spec, prompt, attempts=0, latency=0.0, error=str(exc))
            raise LLMError(call.error or "", call, Kind.AUTH) from None
        return await self._send_with_retries(spec, prompt, kwargs)

    async def probe(self, spec: ModelSpec, *, timeout: float) -> Failure | None:
        """Send `spec` a tiny request (a few tokens); None if it answered like a chat API would.

        For the preflight: nothing is recorded or charged to the budget. A rate limit counts as
        an answer (the server knows the key and the model); a connection failure or a server
        error is tried once more after a second; an empty answer is fine.
        """
        messages = [{"role": "user", "content": PROBE_PROMPT}]
        try:
            kwargs = self._request_kwargs(spec, messages)
        except _MissingKey as exc:
            return Failure(str(exc).removeprefix(f"{spec.name}: "), False, kind=Kind.AUTH)
        kwargs.update(max_tokens=_PROBE_TOKENS, timeout=timeout)
        litellm = _litellm or await asyncio.to_thread(_load_litellm)
        for attempt in range(2):
            try:
                response = await litellm.acompletion(**kwargs)
            except Exception as exc:
                failure = classify(exc, litellm, timeout=timeout, key_hint=_key_hint(spec))
                if failure is None:
                    raise
                if failure.kind == Kind.RATE_LIMIT:
                    return None
                if attempt == 0 and failure.kind in (Kind.CONNECTION, Kind.SERVER):
                    await self._sleep(1.0)
                    continue
                return failure
            if not getattr(response, "choices", None):
                return Failure("malformed answer, no 'choices' in the body", False, kind=Kind.MALFORMED)
            return None
        return failure

    # --- internals -----------------------------------------------------------------------

    async def _send_with_retries(self, spec: ModelSpec, prompt: str, kwargs: dict) -> Completion:
        # The first import takes seconds: do it off the loop so evaluations keep running.
        litellm = _litellm or await asyncio.to_thread(_load_litellm)
        worst_case = 0.0
        if self._ledger.budget is not None:
            worst_case = worst_case_cost(litellm, spec.name, kwargs["messages"], self._config.max_tokens)
        started = time.perf_counter()
        cost = 0.0
        prompt_tokens = completion_tokens = 0
        attempts = 0
        stored = ""
        while True:
            async with self._semaphore():
                try:
                    reservation = await self._ledger.reserve(worst_case)
                except BudgetExceeded:
                    if attempts == 0:
                        raise
                    failure = replace(failure, message=f"{failure.message} (no budget left to retry)", retryable=False)
                else:
                    if attempts == 0:
                        self._calls += 1
                    attempts += 1
                    response, failure = await self._attempt(litellm, spec, kwargs, reservation)
                    if response is not None:
                        step_cost = cost_of(litellm, response)
                        self._ledger.settle(reservation, step_cost)
                        cost += step_cost
                        usage = getattr(response, "usage", None)
                        prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                        completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                        text, failure = _read_answer(response, self._config)
                        if failure is None:
                            call = self._record(
                                spec, prompt, response=text, prompt_tokens=prompt_tokens,
                                completion_tokens=completion_tokens, cost=cost, attempts=attempts,
                                latency=time.perf_counter() - started,
                            )  # fmt: skip
                            return Completion(text, call)
                        stored = text[:_STORED_PREFIX_CHARS]
            if not failure.retryable or attempts > self._config.retries:
                tail = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
                call = self._record(
                    spec, prompt, response=stored, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    cost=cost, attempts=attempts, latency=time.perf_counter() - started,
                    error=f"{spec.name}: {failure.message}{tail}",
                )  # fmt: skip
                raise LLMError(call.error or "", call, failure.kind)
            await self._sleep(self._backoff(attempts, failure.retry_after))

    async def _attempt(
        self, litellm: ModuleType, spec: ModelSpec, kwargs: dict, reservation: int
    ) -> tuple[Any, Failure | None]:
        """One request: (response, None), or (None, the failure) with the reservation dropped."""
        try:
            return await litellm.acompletion(**kwargs), None
        except BaseException as exc:  # cancelled (a wall budget) or failed: no answer to pay for
            self._ledger.release(reservation)
            if not isinstance(exc, Exception):
                raise
            failure = classify(exc, litellm, timeout=self._config.timeout_seconds, key_hint=_key_hint(spec))
            if failure is None:
                raise
            return None, failure

    def _request_kwargs(self, spec: ModelSpec, messages: list[dict]) -> dict[str, Any]:
        cfg = self._config
        kwargs: dict[str, Any] = {
            "model": spec.name,
            "messages": messages,
            "max_tokens": cfg.max_tokens,
            "temperature": spec.temperature if spec.temperature is not None else cfg.temperature,
            "timeout": cfg.timeout_seconds,
            "num_retries": 0,  # we retry ourselves, with our own ledger
            "max_retries": 0,  # nor may the OpenAI client retry underneath
            "drop_params": True,  # some models reject e.g. temperature; drop it, don't fail
        }
        if spec.api_base:
            kwargs["api_base"] = spec.api_base
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise _MissingKey(f"{spec.name}: environment variable {spec.api_key_env} is not set (api_key_env)")
            kwargs["api_key"] = key
        elif spec.api_base:
            # Never send a vendor key found in the environment to a server named by api_base.
            kwargs["api_key"] = _PLACEHOLDER_KEY
        return kwargs

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.05), _RETRY_AFTER_CAP)
        delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempts - 1))
        return delay * (0.5 + 0.5 * self._jitter.random())

    def _semaphore(self) -> asyncio.Semaphore:
        """The concurrency limit of the running loop (made there, so it binds to it)."""
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            self._semaphores = {lp: s for lp, s in self._semaphores.items() if not lp.is_closed()}
            sem = self._semaphores[loop] = asyncio.Semaphore(self._config.concurrency)
        return sem

    def _record(self, spec: ModelSpec, prompt: str, **fields: Any) -> LLMCall:
        return LLMCall(
            id=uuid.uuid4().hex, run_id=self._run_id, model=spec.name, prompt=prompt,
            created_at=time.time(), purpose=self._purpose, **fields,
        )  # fmt: skip


class _MissingKey(Exception):
    pass


def _read_answer(response: Any, config: LLMConfig) -> tuple[str, Failure | None]:
    """The answer's text, or why it cannot be used (with the text, when there is some)."""
    choices = getattr(response, "choices", None)
    if not choices:
        return "", Failure("malformed answer, no 'choices' in the body", False, kind=Kind.MALFORMED)
    choice = choices[0]
    content = getattr(getattr(choice, "message", None), "content", None)
    if not isinstance(content, str) or not content.strip():
        finish = getattr(choice, "finish_reason", None)
        if finish == "length":  # the limit was spent before any text (a reasoning model): again won't help
            return "", Failure(f"empty answer (max_tokens {config.max_tokens} reached before any text)", False,
                               kind=Kind.EMPTY)  # fmt: skip
        if finish == "content_filter":
            return "", Failure("empty answer (withheld by the provider's content filter)", False, kind=Kind.EMPTY)
        return "", Failure("empty answer", True, kind=Kind.EMPTY)
    if len(content) > config.max_answer_chars:
        kept = min(_STORED_PREFIX_CHARS, config.max_answer_chars)
        message = (
            f"answer too large (over llm.max_answer_chars, {config.max_answer_chars:,}): {len(content):,} characters; "
            f"not used, its first {kept:,} are stored"
        )
        return content[:kept], Failure(message, False, kind=Kind.TOO_LARGE)
    return content, None


def _key_hint(spec: ModelSpec) -> str:
    if spec.api_key_env:
        return f"check {spec.api_key_env}"
    if spec.api_base:
        return f"the server at {spec.api_base} wants a key: set api_key_env"
    provider = spec.name.split("/", 1)[0] if "/" in spec.name else "openai"
    return f"check {provider.upper()}_API_KEY"
