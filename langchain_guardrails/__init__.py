"""Guardrails around any LangChain chat model, without breaking streaming.

Example:
    .. code-block:: python

        from langchain_guardrails import Guardrails, RailsConfig

        guarded = Guardrails(llm=my_chat_model, config=RailsConfig.from_path("./config"))
        async for chunk in guarded.astream("Hello"):
            print(chunk.content, end="")
"""

from .actions import RailResult, action
from .config import RailsConfig
from .errors import ConfigError, GuardrailsViolation, MissingExtraError
from .llmrails import LLMRails
from .observability import GuardrailsCallbackHandler
from .results import RailCheck
from .runnable import Guardrails

__all__ = [
    "ConfigError",
    "Guardrails",
    "GuardrailsCallbackHandler",
    "GuardrailsViolation",
    "LLMRails",
    "MissingExtraError",
    "RailCheck",
    "RailResult",
    "RailsConfig",
    "action",
]
