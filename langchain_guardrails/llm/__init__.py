"""Floor 4, the models: building them and reading their streams.

``registry`` and ``engines`` build the chat model a ``models`` entry of ``config.yml`` names
(``lazy``: on first call); ``providers`` holds adapters of optional extras (HuggingFace). For a
guarded call: ``model_parts`` takes apart what ``Guardrails(llm=...)`` was given (steps before,
the model, steps after), ``messages`` turns inputs into chat messages, ``model_stream`` prepares
and enters the wrapped model's stream, ``direct_stream`` streams it without LangChain's run
bookkeeping when nobody listens, ``callback_relay`` keeps unreleased text out of the model run's
callbacks, ``threads`` and ``sync_bridge`` drive sync APIs from the async core.

To add an engine: ``register_engine`` (or a module in ``engines``).

Imports: ``config``, ``observability``, ``streaming`` (the reasoning channel), ``errors``,
``testing`` (the offline ``scripted`` engine).
"""

from langchain_guardrails.llm.lazy import LazyChatModel
from langchain_guardrails.llm.registry import build_model, register_engine, registered_engines

__all__ = ["LazyChatModel", "build_model", "register_engine", "registered_engines"]
