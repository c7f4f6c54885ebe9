"""The `llm:` section of a task imported from an OpenEvolve config (agent/openevolve_task.py).

OpenEvolve talks to every model through an OpenAI-compatible API, so each model becomes
"openai/<name>" for litellm, with the config's api_base unless it is OpenAI's own. Models come
from `llm.models` and then `primary_model` / `secondary_model` (the secondary with weight 0.2
when none is given, left out at weight 0), as OpenEvolve builds its ensemble. A key given as
"${VAR}" becomes `api_key_env: VAR`; a literal key is never written into the task.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from agent import openevolve_schema as oe

_NOT_CARRIED = ("top_p", "retry_delay", "random_seed", "reasoning_effort", "provider", "max_budget_usd",
                "manual_mode", "init_client", "system_message")
_ENV_KEY = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class _Builder(Protocol):
    def skip(self, key: str, why: str) -> None: ...

    def number(self, key: str, value: Any, *, integer: bool = False, low: float | None = None,
               high: float | None = None) -> float | int | None: ...


def llm_section(llm: dict[str, Any], raw: dict[str, Any], builder: _Builder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    models = [m for m in (_model(entry, llm, builder) for entry in _entries(llm, builder)) if m]
    if models:
        out["models"] = models
    temperature = builder.number("llm.temperature", llm.get("temperature", oe.DEFAULT_TEMPERATURE), low=0, high=2)
    if temperature is not None:
        out["temperature"] = temperature
    for key, target, integer, low, high in (("max_tokens", "max_tokens", True, 16, None),
                                            ("timeout", "timeout_seconds", False, 1e-9, None),
                                            ("retries", "retries", True, 0, 10)):
        if llm.get(key) is not None:
            value = builder.number(f"llm.{key}", llm[key], integer=integer, low=low, high=high)
            if value is not None:
                out[target] = value
    diff = raw.get("diff_based_evolution", True)
    if isinstance(diff, bool):
        out["edit_format"] = "diff" if diff else "full"
    else:
        builder.skip("diff_based_evolution", f"expected true or false, got {diff!r}")
    for key in _NOT_CARRIED:
        if llm.get(key) is not None:
            builder.skip(f"llm.{key}", _why(key))
    if llm.get("evaluator_models"):
        builder.skip("llm.evaluator_models", "no LLM judges programs in evoforge")
    if "api_key" in llm:
        _key(llm["api_key"], "llm.api_key", builder)
    return out


def _entries(llm: dict[str, Any], builder: _Builder) -> list[dict[str, Any]]:
    entries = llm.get("models") or []
    if not isinstance(entries, list):
        builder.skip("llm.models", f"expected a list, got {type(entries).__name__}")
        entries = []
    found = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"].strip():
            found.append(entry)
        else:
            builder.skip(f"llm.models[{i}]", "expected a mapping with a name")
    primary, secondary = llm.get("primary_model"), llm.get("secondary_model")
    if isinstance(primary, str) and primary:
        found.append({"name": primary, "weight": llm.get("primary_model_weight") or 1.0})
    if isinstance(secondary, str) and secondary:
        weight = llm.get("secondary_model_weight")
        if weight is None or weight > 0:
            found.append({"name": secondary, "weight": 0.2 if weight is None else weight})
    return found


def _model(entry: dict[str, Any], llm: dict[str, Any], builder: _Builder) -> dict[str, Any] | None:
    where = f"llm model {entry['name']}"
    for key in entry:
        if key not in oe.MODEL_KEYS:
            builder.skip(f"{where}: {key}", "not an OpenEvolve 0.3.2 model setting")
    weight = builder.number(f"{where}: weight", entry.get("weight", 1.0), low=0)
    if weight is None:
        return None
    if weight == 0:
        builder.skip(where, "weight 0: OpenEvolve would not pick it either")
        return None
    spec: dict[str, Any] = {"name": f"openai/{entry['name'].strip()}"}
    if weight != 1.0:
        spec["weight"] = weight
    base = entry.get("api_base") or llm.get("api_base")
    if base and base.rstrip("/") != oe.DEFAULT_API_BASE:
        spec["api_base"] = base
    key = entry.get("api_key")
    if key is not None:
        env = _key(key, f"{where}: api_key", builder)
        if env:
            spec["api_key_env"] = env
    elif isinstance(llm.get("api_key"), str) and _ENV_KEY.match(llm["api_key"]):
        spec["api_key_env"] = _ENV_KEY.match(llm["api_key"]).group(1)
    if entry.get("temperature") is not None:
        temperature = builder.number(f"{where}: temperature", entry["temperature"], low=0, high=2)
        if temperature is not None:
            spec["temperature"] = temperature
    for key in (*_NOT_CARRIED, "max_tokens", "timeout", "retries"):
        if entry.get(key) is not None and key != "system_message":
            builder.skip(f"{where}: {key}", _why(key) if key in _NOT_CARRIED else
                         f"evoforge sets {key} for the whole ensemble (llm.{key})")
    return spec


def _key(value: Any, where: str, builder: _Builder) -> str | None:
    """The environment variable a "${VAR}" key names; a literal key is said not carried."""
    match = _ENV_KEY.match(value) if isinstance(value, str) else None
    if match:
        return match.group(1)
    if value:
        builder.skip(where, "a literal key is not written into the task: put it in an environment variable and "
                     "set api_key_env to its name")
    return None


def _why(key: str) -> str:
    return {
        "system_message": "the system message comes from prompt.system_message (prompt.system)",
        "max_budget_usd": "set budget.dollars for the run's spend limit",
        "random_seed": "search.seed seeds evoforge's own choices; LLM sampling is not seeded",
    }.get(key, "no equivalent in evoforge's LLM settings")
