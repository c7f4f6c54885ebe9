"""The preflight: before a run is created, check that every configured model answers.

`preflight(llm, wall_seconds=...)` sends each model of the ensemble one tiny chat request (a
few tokens, all models at once) and raises `RunFailed` with one line naming each model that
cannot be used and why: no API key (and which variable), a refused key (401/403), no such
model (404), a server that cannot be reached, does not answer in time, or does not answer
like an OpenAI-compatible API. A vendor model without its key fails before anything is sent.

The wait is bounded: `llm.preflight_seconds` per model (default 30 s), at most the request
timeout and half the wall budget; a connection failure or a server error is tried once more
after a second. With no model configured (the built-in tuner) there is nothing to check.
With a dollar budget, it also names the models the budget cannot price (they count as free).

Cost: a preflight request asks for at most 8 tokens with a one-line prompt, i.e. well under a
hundredth of a cent on any priced model. It is neither stored nor charged to the run's dollar
budget: it is sent before the run exists (a failed preflight creates no run).
"""

from __future__ import annotations

import asyncio
import os
import random

from agent.config import LLMConfig, ModelSpec
from agent.failures import RunFailed
from agent.llm.errors import Failure, Kind

_SPARE_SECONDS = 5.0  # beyond the per-model wait: the retry's pause, litellm's import


def preflight(llm: LLMConfig, *, wall_seconds: float | None = None, dollars: float | None = None) -> tuple[str, ...]:
    """Raise `RunFailed` (one line) unless every model of `llm` answers a tiny request.

    Returns warnings worth showing the user: with a dollar budget, the models whose calls it
    cannot price (they count as free, so the budget does not limit them).
    """
    if not llm.models:
        return ()
    notes = _unpriced(llm, dollars)
    if llm.preflight_seconds <= 0:
        return notes
    timeout = min(llm.preflight_seconds, llm.timeout_seconds)
    if wall_seconds is not None:
        timeout = min(timeout, max(1.0, wall_seconds / 2))
    failures = asyncio.run(_check_all(llm, timeout))
    problems = [f"{spec.name}: {failure.message}" for spec, failure in zip(llm.models, failures) if failure]
    if problems:
        raise RunFailed(f"LLM preflight failed, no run started: {'; '.join(problems)}")
    return notes


def _unpriced(llm: LLMConfig, dollars: float | None) -> tuple[str, ...]:
    if dollars is None:
        return ()
    from agent.llm.gateway import _load_litellm
    from agent.llm.pricing import has_price

    litellm = _load_litellm()
    return tuple(
        f"{spec.name} has no price in litellm's price map: its calls count as $0 against budget.dollars"
        for spec in llm.models
        if not has_price(litellm, spec.name)
    )


async def _check_all(llm: LLMConfig, timeout: float) -> list[Failure | None]:
    from agent.llm.gateway import LLMGateway, _load_litellm

    await asyncio.to_thread(_load_litellm)  # before the clock starts: its import takes seconds
    gateway = LLMGateway(llm, run_id="preflight", rng=random.Random(0))
    checks = [_check(gateway, spec, timeout) for spec in llm.models]
    try:
        return await asyncio.wait_for(asyncio.gather(*checks), timeout=2 * timeout + _SPARE_SECONDS)
    except asyncio.TimeoutError:  # a backstop: each request has its own timeout
        return [Failure(f"no answer within {timeout:g} s", False, kind=Kind.TIMEOUT) for _ in llm.models]


async def _check(gateway, spec: ModelSpec, timeout: float) -> Failure | None:
    missing = _missing_key(spec)
    if missing is not None:
        return missing
    failure = await gateway.probe(spec, timeout=timeout)
    if failure is not None and failure.kind == Kind.TIMEOUT:
        hint = " (a slow server: raise llm.preflight_seconds, or 0 to skip the preflight)"
        return Failure(f"no answer within {timeout:g} s{hint}", False, kind=Kind.TIMEOUT)
    if failure is not None and failure.kind == Kind.CONNECTION and spec.api_base:
        return Failure(f"cannot reach {spec.api_base}: {failure.message}", False, kind=Kind.CONNECTION)
    return failure


def _missing_key(spec: ModelSpec) -> Failure | None:
    """A vendor model (no api_base, no api_key_env) whose API key variable is not set.

    litellm names the variables a provider reads; only names ending in _API_KEY are taken as
    required (a provider may also accept e.g. a cloud login, which this check cannot see).
    """
    if spec.api_base or spec.api_key_env:
        return None  # the gateway checks api_key_env itself; a server at api_base may need no key
    from agent.llm.gateway import _load_litellm

    try:
        verdict = _load_litellm().validate_environment(model=spec.name)
    except Exception:  # a provider litellm cannot tell about: let the request say
        return None
    missing = [str(name) for name in verdict.get("missing_keys") or ()]
    if verdict.get("keys_in_environment") or not missing or not all(m.endswith("_API_KEY") for m in missing):
        return None
    if any(os.environ.get(name) for name in missing):
        return None
    names = " or ".join(missing)
    return Failure(f"no API key: {names} is not set (or name the variable with api_key_env)", False, kind=Kind.AUTH)
