"""Structured output (``create_agent(response_format=...)``) under
:class:`~langchain_guardrails.agents.middleware.GuardrailsMiddleware`'s output rails.

* ``ToolStrategy``: the answer is a tool call the agent parses into ``structured_response``
  after the model call. The guarded model checks tool calls with ``rails.tool_output`` only,
  so the middleware runs the output rails on the call's arguments (their canonical JSON text)
  before the response enters state.
* ``ProviderStrategy``: the answer is JSON text, guarded as text; a block turns it into the
  refusal, which the agent then fails to parse (``StructuredOutputValidationError``). The
  middleware recognises its own refusal there and ends the run with it.
"""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware.types import ModelResponse
from langchain_core.messages import AIMessage, ToolCall, ToolMessage

from langchain_guardrails.engine.canonical import dump_json


def structured_calls(response: ModelResponse[Any]) -> list[ToolCall]:
    """The tool calls parsed into ``response.structured_response`` (the model call answers
    them itself, unlike calls of real tools)."""
    if response.structured_response is None:
        return []
    answered = {m.tool_call_id for m in response.result if isinstance(m, ToolMessage)}
    return [
        call
        for message in response.result
        if isinstance(message, AIMessage)
        for call in message.tool_calls
        if call.get("id") in answered
    ]


def call_args_text(call: ToolCall) -> str:
    """What the output rails check of a structured call: its arguments as a consumer decodes
    them (JSON without ASCII escapes; the rail engine normalises it further)."""
    return dump_json(call.get("args", {}))


def refused(message: AIMessage) -> ModelResponse[Any]:
    """A model response that is the refusal alone: no structured response, no tool call."""
    return ModelResponse(result=[message], structured_response=None)
