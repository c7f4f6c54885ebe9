"""The LLM gateway: one place where chat requests leave the process.

`LLMGateway.complete` sends chat messages to a model of the ensemble through litellm, with a
limit on requests in flight, retries with backoff on transient failures, a dollar budget, and
a `LLMCall` record for every call, successful or not. It knows nothing of programs or
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
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from agent.config import LLMConfig, ModelSpec
from agent.llm.errors import BudgetExceeded, Failure, LLMError, classify
from archives.records import LLMCall

Sleep = Callable[[float], Awaitable[Any]]

_BACKOFF_BASE = 1.0  # seconds before the first retry (before jitter)
_BACKOFF_CAP = 30.0  # longest wait of our own backoff
_RETRY_AFTER_CAP = 120.0  # longest wait a server's Retry-After may impose
_PLACEHOLDER_KEY = "sk-no-key-needed"  # local OpenAI-compatible servers want some key
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
    (a resumed run passes what it spent before) and grows by each call's cost; once it reaches
    `dollar_budget`, `complete` raises `BudgetExceeded` without sending anything. `sleep` is
    awaited between retries; tests pass a fake.
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
    ):
        if not config.models:
            raise ValueError("LLMGateway needs at least one model (llm.models is empty)")
        self._config = config
        self._run_id = run_id
        self._rng = rng
        self._budget = dollar_budget
        self._spent = float(spent)
        self._calls = 0
        self._sleep = sleep
        self._jitter = random.Random()  # apart from `rng`: retries must not shift model picks
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    @property
    def spent(self) -> float:
        """US dollars spent so far, including what was spent before a resume."""
        return self._spent

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

        Retries rate limits, server errors, timeouts and connection failures up to
        `config.retries` times with exponential backoff; raises `LLMError` (with the call's
        record) when the call fails for good, `BudgetExceeded` when the budget is spent.
        """
        spec = model if model is not None else self.pick_model()
        self._check_budget()
        prompt = json.dumps(messages, ensure_ascii=False)
        try:
            kwargs = self._request_kwargs(spec, messages)
        except _MissingKey as exc:
            self._calls += 1
            call = self._record(spec, prompt, attempts=0, latency=0.0, error=str(exc))
            raise LLMError(call.error or "", call) from None
        return await self._send_with_retries(spec, prompt, kwargs)

    # --- internals -----------------------------------------------------------------------

    async def _send_with_retries(self, spec: ModelSpec, prompt: str, kwargs: dict) -> Completion:
        # The first import takes seconds: do it off the loop so evaluations keep running.
        litellm = _litellm or await asyncio.to_thread(_load_litellm)
        started = time.perf_counter()
        cost = 0.0
        prompt_tokens = completion_tokens = 0
        attempts = 0
        while True:
            async with self._semaphore():
                if attempts == 0:
                    self._check_budget()  # again: calls running beside this one may have spent it
                    self._calls += 1
                attempts += 1
                try:
                    response = await litellm.acompletion(**kwargs)
                except Exception as exc:  # sorted below; not an API error -> re-raised
                    failure = classify(exc, litellm, timeout=self._config.timeout_seconds, key_hint=_key_hint(spec))
                    if failure is None:
                        raise
                else:
                    step_cost = _cost_of(litellm, response)
                    cost += step_cost
                    self._spent += step_cost
                    usage = getattr(response, "usage", None)
                    prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                    completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                    text = _text_of(response)
                    if text:
                        call = self._record(
                            spec, prompt, response=text, prompt_tokens=prompt_tokens,
                            completion_tokens=completion_tokens, cost=cost, attempts=attempts,
                            latency=time.perf_counter() - started,
                        )  # fmt: skip
                        return Completion(text, call)
                    failure = Failure("empty response", retryable=True)
            if not failure.retryable or attempts > self._config.retries:
                tail = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
                call = self._record(
                    spec, prompt, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    cost=cost, attempts=attempts, latency=time.perf_counter() - started,
                    error=f"{spec.name}: {failure.message}{tail}",
                )  # fmt: skip
                raise LLMError(call.error or "", call)
            await self._sleep(self._backoff(attempts, failure.retry_after))

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

    def _check_budget(self) -> None:
        if self._budget is not None and self._spent >= self._budget:
            raise BudgetExceeded(self._spent, self._budget)

    def _record(self, spec: ModelSpec, prompt: str, **fields: Any) -> LLMCall:
        return LLMCall(
            id=uuid.uuid4().hex, run_id=self._run_id, model=spec.name, prompt=prompt,
            created_at=time.time(), **fields,
        )  # fmt: skip


class _MissingKey(Exception):
    pass


def _text_of(response: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def _cost_of(litellm: ModuleType, response: Any) -> float:
    """Dollars for one response from litellm's price map; 0.0 for models it does not know."""
    try:
        cost = litellm.completion_cost(completion_response=response)
    except Exception:  # unmapped model (local servers): litellm raises; such calls are free
        return 0.0
    return float(cost or 0.0)


def _key_hint(spec: ModelSpec) -> str:
    if spec.api_key_env:
        return f"check {spec.api_key_env}"
    if spec.api_base:
        return f"the server at {spec.api_base} wants a key: set api_key_env"
    provider = spec.name.split("/", 1)[0] if "/" in spec.name else "openai"
    return f"check {provider.upper()}_API_KEY"
