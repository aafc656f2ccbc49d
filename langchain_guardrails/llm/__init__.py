"""Model engines named in ``config.yml`` (``models: [{engine: ...}]``)."""

from langchain_guardrails.llm.lazy import LazyChatModel
from langchain_guardrails.llm.registry import build_model, register_engine, registered_engines

__all__ = ["LazyChatModel", "build_model", "register_engine", "registered_engines"]
