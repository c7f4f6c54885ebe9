"""The controller side of evoforge: CLI, task config, loop, prompts, LLM gateway, edits, tuner.

Re-exports are lazy, so `agent --help` does not import pydantic, SQLAlchemy or litellm.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TaskConfig": "agent.config",
    "ConfigError": "agent.config",
    "load_task": "agent.config",
    "evolve": "agent.session",
    "RunOutcome": "agent.session",
    "Controller": "agent.controller",
    "PromptBuilder": "agent.prompts",
    "PromptContext": "agent.prompts",
    "apply_answer": "agent.edits",
    "EditError": "agent.edits",
    "Tuner": "agent.tuner",
    "LLMGateway": "agent.llm",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
