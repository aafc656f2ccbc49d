"""Beside every floor, the observers' view: what a guarded call tells callbacks, tracers and
logs, never the text it has not released.

``events`` names the custom events (rail started/passed/blocked, windows, stream) and emits the
rail runs' ones (the stream and window events are emitted from ``streaming.window_events``);
``callback_handler`` (``GuardrailsCallbackHandler``) sums a request up from them; ``explain`` holds
NeMo's ``explain()`` / ``log`` models; ``usage`` estimates the prompt tokens of a stream a block
stopped; ``safe_logging`` logs failures with types and frames but no message text. The callback
relay that redacts the wrapped model's own runs is ``llm.callback_relay``.

Imports: ``config`` and ``errors`` only, so the engine and every floor above may report.
"""

from langchain_guardrails.observability.callback_handler import (
    GuardrailsCallbackHandler,
    GuardrailsSummary,
    RailLatency,
    get_guardrails_callback,
)

__all__ = [
    "GuardrailsCallbackHandler",
    "GuardrailsSummary",
    "RailLatency",
    "get_guardrails_callback",
]
