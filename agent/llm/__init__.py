"""The LLM gateway: chat requests through litellm, with retries, a concurrency limit and a ledger;
the preflight that checks the models before a run; the streaks of failures that stop a run.

Importing this package does not import litellm; the first request does.
"""

from agent.llm.errors import EXTERNAL_KINDS, BudgetExceeded, Kind, LLMError
from agent.llm.gateway import Completion, LLMGateway
from agent.llm.preflight import preflight
from agent.llm.streaks import FailureStreaks

__all__ = [
    "EXTERNAL_KINDS", "BudgetExceeded", "Completion", "FailureStreaks", "Kind", "LLMError", "LLMGateway", "preflight",
]
