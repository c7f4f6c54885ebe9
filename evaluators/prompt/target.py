"""Calls to the target model (and the judge) of a prompt task, cached, on the evaluator's loop.

A prompt evaluator is called from the controller's worker threads. All its model calls run on
one event loop of its own, in a background thread (`BackgroundLoop`), so the concurrency limit
(`prompt_task.target.concurrency`) holds for the whole run and the gateway's asyncio state
lives on one loop. The calls go through `agent.llm.LLMGateway` with the run's one
`DollarLedger` (so they count in `budget.dollars`) and `purpose="target"` or `"judge"` (so the
spend is shown apart from the proposer's); every call made is handed to `record_call` (the
run's store). Answers are cached (evaluators/prompt/cache.py).

Failures split in two. A cause outside the candidate that every later call meets again -- no
key, a refused key, an unknown model, an unreachable server, a body that is not a chat
completion -- raises `TargetUnusable` (one line): the evaluation is the evaluator's fault and
the run stops loudly. Anything else (a timeout after retries, an empty or oversized answer) is
that example's failure: `Answer.error` is set and the example scores 0.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import random
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.config import LLMConfig, ModelSpec
from agent.llm.errors import EXTERNAL_KINDS, LLMError
from agent.llm.gateway import LLMGateway
from agent.llm.ledger import DollarLedger
from archives.records import LLMCall
from evaluators.prompt.cache import AnswerCache, cache_key

T = TypeVar("T")


class _OrphanedLoggingWorker(logging.Filter):
    """Drops asyncio's "Task was destroyed but it is pending!" for litellm's logging worker.

    litellm keeps one global logging worker bound to one event loop; when calls alternate
    between the run's loop (the proposer) and this module's loop (the target model), it moves
    to the other loop and drops its old, idle worker task, which asyncio then reports at
    garbage collection. Nothing is lost (litellm carries its queued work over); the line is noise.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "LoggingWorker._worker_loop" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_OrphanedLoggingWorker())


class TargetUnusable(Exception):
    """The target (or judge) model cannot answer at all: a configuration problem, one line."""


@dataclass(frozen=True)
class Answer:
    text: str
    cost: float = 0.0
    cached: bool = False
    error: str | None = None  # set when this one call failed (the example scores 0)


class BackgroundLoop:
    """An event loop running in a daemon thread; `run` executes a coroutine there and waits."""

    def __init__(self, name: str = "evoforge-prompt-loop"):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        atexit.register(self.close)  # an evaluator nobody closed: end its loop's tasks quietly

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def close(self) -> None:
        """Cancel what still runs on the loop (litellm leaves a logging task there), then stop it."""
        if self._loop.is_closed():
            return
        try:
            self.run(_cancel_others())
        except RuntimeError:  # the loop stopped already
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
        atexit.unregister(self.close)


class ModelClient:
    """One model (target or judge) behind a gateway of its own, sharing the run's ledger."""

    def __init__(
        self,
        spec: ModelSpec,
        llm: LLMConfig,
        *,
        run_id: str,
        ledger: DollarLedger,
        purpose: str,
        cache: AnswerCache,
        record_call: Callable[[LLMCall], None] | None = None,
    ):
        self.spec = spec
        self._llm = llm
        self.purpose = purpose
        self._cache = cache
        self._record_call = record_call
        self._gateway = LLMGateway(llm, run_id=run_id, rng=random.Random(0), ledger=ledger, purpose=purpose)
        self.calls = 0
        self.cost = 0.0
        self._lock = threading.Lock()

    @property
    def parameters(self) -> dict[str, Any]:
        """What, beside the messages, an answer depends on (part of the cache key)."""
        return {"model": self.spec.name, "api_base": self.spec.api_base, "temperature": self.spec.temperature,
                "max_tokens": self._llm.max_tokens}  # fmt: skip

    async def answer(self, messages: list[dict[str, str]], *, example_id: str = "", draw: int = 0) -> Answer:
        """The model's answer to `messages`, from the cache when it was asked before.

        `draw` tells repeated samples of the same request apart (temperature > 0)."""
        key = cache_key(messages=messages, example=example_id, draw=draw, purpose=self.purpose, **self.parameters)
        cached = self._cache.get(key)
        if cached is not None:
            return Answer(cached, cached=True)
        try:
            completion = await self._gateway.complete(messages, self.spec)
        except LLMError as exc:
            self._count(exc.call)
            if exc.kind in EXTERNAL_KINDS:
                raise TargetUnusable(f"{self.purpose} model {exc}") from None
            return Answer("", cost=exc.call.cost, error=str(exc))
        self._count(completion.call)
        self._cache.put(key, self.spec.name, completion.text, completion.call.cost)
        return Answer(completion.text, cost=completion.call.cost)

    def _count(self, call: LLMCall) -> None:
        with self._lock:
            self.calls += 1
            self.cost += call.cost
        if self._record_call is not None:
            self._record_call(call)


def model_client(
    *, name: str, api_base: str | None, api_key_env: str | None, temperature: float, max_tokens: int,
    timeout_seconds: float, retries: int, concurrency: int, run_id: str, ledger: DollarLedger, purpose: str,
    cache: AnswerCache, record_call: Callable[[LLMCall], None] | None,
) -> ModelClient:  # fmt: skip
    """A `ModelClient` for one model with these settings (no preflight: the first call tells)."""
    spec = ModelSpec(name=name, api_base=api_base, api_key_env=api_key_env, temperature=temperature)
    llm = LLMConfig(models=(spec,), temperature=temperature, max_tokens=max_tokens, timeout_seconds=timeout_seconds,
                    retries=retries, concurrency=concurrency, preflight_seconds=0)  # fmt: skip
    return ModelClient(spec, llm, run_id=run_id, ledger=ledger, purpose=purpose, cache=cache, record_call=record_call)


async def _cancel_others() -> None:
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
