"""The OpenAI chat-completions wire format: request validation and response bodies.

Requests are validated by hand into :class:`ChatRequest` so that every bad input gets an
OpenAI-style 4xx error naming the offending field (``messages[1].role``), never a 500.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.ai import UsageMetadata

from langchain_guardrails.server.protocol.openai_messages import (
    ROLES,
    parse_messages,
    without_surrogates,
)
from langchain_guardrails.server.protocol.openai_tools import tool_kwargs
from langchain_guardrails.server.protocol.request_error import RequestError

_MAX_TOKENS = 1_000_000
_MODEL_PARAMS: dict[str, tuple[type, int, int]] = {
    "max_tokens": (int, 1, _MAX_TOKENS),
    "max_completion_tokens": (int, 1, _MAX_TOKENS),
    "temperature": (float, 0, 2),
    "top_p": (float, 0, 1),
    "presence_penalty": (float, -2, 2),
    "frequency_penalty": (float, -2, 2),
    "seed": (int, -(2**63), 2**63 - 1),
}
"""Generation parameters passed to the model: kind and inclusive range (as OpenAI's API)."""
_UNSUPPORTED = (
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "prediction",
)
"""Request fields the server does not implement: rejected when set, never silently ignored."""
_NEUTRAL: dict[str, Any] = {"logprobs": False}
"""Values of unsupported fields that ask for nothing (accepted: they change nothing)."""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated ``POST /v1/chat/completions`` body."""

    messages: list[BaseMessage]
    config_id: str | None
    model: str | None
    stream: bool
    include_usage: bool
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    """Generation parameters the client set, passed to the model (``max_tokens``, ``stop``...)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The ``guardrails`` object of the request (``config_id``, ``log``, ``nemo_errors``)."""
    legacy_functions: bool = False
    """The request declared legacy ``functions``: calls are answered as ``function_call``."""


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a decoded JSON body; :class:`RequestError` names the first bad field.

    Example:
        .. code-block:: python

            request = parse_chat_request({"messages": [{"role": "user", "content": "Hi"}]})
    """
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object", param=None)
    options = _object(body, "guardrails")
    extra_body = _object(body, "extra_body")
    config_id = body.get("config_id", options.get("config_id", extra_body.get("config_id")))
    if config_id is not None and not isinstance(config_id, str):
        raise RequestError("config_id must be a string", param="config_id")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError("model must be a string", param="model")
    for key in _UNSUPPORTED:
        value = body.get(key)
        if value is not None and value != [] and value != {} and value != _NEUTRAL.get(key):
            raise RequestError(
                f"{key} is not supported by the guardrails server",
                param=key,
                code="unsupported_parameter",
            )
    n = body.get("n", 1)
    if n is not None and (type(n) is not int or n != 1):
        raise RequestError("only n=1 is supported", param="n", code="unsupported_value")
    stream = _bool(body, "stream")
    stream_options = _object(body, "stream_options")
    if stream_options and not stream:
        raise RequestError(
            "stream_options is only allowed with stream: true", param="stream_options"
        )
    tools, legacy = tool_kwargs(body)
    return ChatRequest(
        messages=parse_messages(body.get("messages")),
        config_id=config_id,
        model=model,
        stream=stream,
        include_usage=_bool(stream_options, "include_usage", where="stream_options."),
        model_kwargs={**_model_kwargs(body), **tools},
        options=options,
        legacy_functions=legacy,
    )


def _object(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{key} must be an object", param=key)
    return value


def _bool(body: Mapping[str, Any], key: str, *, where: str = "") -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(f"{where}{key} must be a boolean", param=f"{where}{key}")
    return value


def _model_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for key, (kind, low, high) in _MODEL_PARAMS.items():
        value = body.get(key)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind is int and not isinstance(value, int)):
            raise RequestError(
                f"{key} must be a{'n integer' if kind is int else ' number'}", param=key
            )
        finite = not isinstance(value, float) or math.isfinite(value)
        if not (finite and low <= value <= high):
            raise RequestError(f"{key} must be between {low} and {high} (got {value!r})", param=key)
        kwargs[key] = value
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
            raise RequestError("stop must be a string or an array of strings", param="stop")
        kwargs["stop"] = stop
    return kwargs


# -- responses ----------------------------------------------------------------------------------


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_body(usage: UsageMetadata | None) -> dict[str, int]:
    """LangChain ``usage_metadata`` as OpenAI ``usage`` (zeros when the model reported none)."""
    prompt = usage["input_tokens"] if usage else 0
    completion = usage["output_tokens"] if usage else 0
    total = usage["total_tokens"] if usage else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def chunk_body(
    cid: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` gives a chunk without choices (usage)."""
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    )
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    body.update(extra)
    return body


def completion_body(
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: UsageMetadata | None,
    guardrails: dict[str, Any],
) -> dict[str, Any]:
    """A whole ``chat.completion`` with one choice holding ``message``."""
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage_body(usage),
        "guardrails": guardrails,
    }


def violation_error(guardrails: Mapping[str, Any]) -> dict[str, Any]:
    """The error object NeMo Guardrails' server sends for a block."""
    rail = guardrails.get("rail")
    return {
        "message": f"Blocked by {rail} rails.",
        "type": "guardrails_violation",
        "param": rail,
        "code": "content_blocked",
    }


__all__ = [
    "ROLES",
    "ChatRequest",
    "RequestError",
    "chunk_body",
    "completion_body",
    "completion_id",
    "parse_chat_request",
    "parse_messages",
    "usage_body",
    "violation_error",
    "without_surrogates",
]
