"""Guardrails around any LangChain chat model, without breaking streaming.

Example:
    .. code-block:: python

        from langchain_guardrails import Guardrails, RailsConfig

        guarded = Guardrails(llm=my_chat_model, config=RailsConfig.from_path("./config"))
        async for chunk in guarded.astream("Hello"):
            print(chunk.content, end="")
"""

from langchain_guardrails.config.actions import RailResult, action
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.engine.results import RailCheck
from langchain_guardrails.errors import ConfigError, GuardrailsViolation, MissingExtraError
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.nemo.llmrails import LLMRails
from langchain_guardrails.observability.callback_handler import GuardrailsCallbackHandler

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
