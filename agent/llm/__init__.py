"""The LLM gateway: chat requests through litellm, with retries, a concurrency limit and a ledger.

Importing this package does not import litellm; the first request does.
"""

from agent.llm.errors import BudgetExceeded, LLMError
from agent.llm.gateway import Completion, LLMGateway

__all__ = ["BudgetExceeded", "Completion", "LLMError", "LLMGateway"]
