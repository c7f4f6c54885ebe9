"""Dollar prices of LLM calls from litellm's local price map: before a call (a worst case to
reserve) and after it (what the answer's usage cost).

A model the price map does not know (a local server, a private deployment) is priced at $0:
its calls are free as far as the dollar budget can tell. `has_price` lets the caller say so.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

_PROMPT_MARGIN = 1.05  # token counts are estimates (a tokenizer of the model's family, or chars)
_PROMPT_EXTRA = 16  # chat framing a counter may miss
_CHARS_PER_TOKEN_FLOOR = 2  # the fallback estimate when no counter works: few chars per token


def has_price(litellm: ModuleType, model: str) -> bool:
    """Whether the price map knows `model` (a known model may still be free, e.g. ollama)."""
    try:
        litellm.cost_per_token(model=model, prompt_tokens=1, completion_tokens=1)
    except Exception:
        return False
    return True


def prompt_tokens(litellm: ModuleType, model: str, messages: list[dict]) -> int:
    """The prompt's token count, rounded up with a margin so a reservation is not too small."""
    try:
        counted = int(litellm.token_counter(model=model, messages=messages))
    except Exception:  # no tokenizer for it: assume dense text
        counted = sum(len(str(m.get("content", ""))) for m in messages) // _CHARS_PER_TOKEN_FLOOR
    return int(counted * _PROMPT_MARGIN) + _PROMPT_EXTRA


def worst_case_cost(litellm: ModuleType, model: str, messages: list[dict], max_tokens: int) -> float:
    """Dollars a call may cost at most: its prompt, and an answer of `max_tokens` (the most a
    server honouring the request can bill)."""
    try:
        cost_in, cost_out = litellm.cost_per_token(
            model=model,
            prompt_tokens=prompt_tokens(litellm, model, messages),
            completion_tokens=max_tokens,
        )
    except Exception:  # unmapped model: free as far as we know
        return 0.0
    return float(cost_in or 0.0) + float(cost_out or 0.0)


def cost_of(litellm: ModuleType, response: Any) -> float:
    """Dollars for one response from its reported usage; 0.0 for models the map does not know."""
    try:
        cost = litellm.completion_cost(completion_response=response)
    except Exception:  # unmapped model (local servers): litellm raises; such calls are free
        return 0.0
    return float(cost or 0.0)
