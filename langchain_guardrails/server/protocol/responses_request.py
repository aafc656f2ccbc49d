"""``POST /v1/responses`` requests (OpenAI's Responses API) validated into LangChain messages
and model kwargs, with a 400 naming the first bad field.

The input items become the messages the chat route would build: ``instructions`` a system
message, ``function_call`` items the ``tool_calls`` of an assistant message, and
``function_call_output`` items ``ToolMessage`` objects, so ``rails.tool_input`` checks them like
``role: "tool"`` messages. Tools and ``text.format`` are rewritten into the chat format and
validated by :func:`~.openai_tools.tool_kwargs`, the one validator of both routes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call

from langchain_guardrails.server.protocol.json_depth import require_depth, too_deep
from langchain_guardrails.server.protocol.openai_tools import tool_kwargs
from langchain_guardrails.server.protocol.request_error import RequestError

_SURROGATE = re.compile("[\ud800-\udfff]")
_ROLES = ("system", "developer", "user", "assistant")
_TEXT_PARTS = ("input_text", "output_text", "text")
_STATEFUL = ("previous_response_id", "conversation", "prompt")
"""Fields that need responses stored by the server, which it does not do."""
_NUMBERS: dict[str, tuple[str, type, float, float]] = {
    "temperature": ("temperature", float, 0, 2),
    "top_p": ("top_p", float, 0, 1),
    "max_output_tokens": ("max_tokens", int, 1, 1_000_000),
}
"""Request field -> (model kwarg, kind, inclusive range)."""
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """A validated ``POST /v1/responses`` body."""

    messages: list[BaseMessage]
    config_id: str | None
    model: str | None
    stream: bool
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    echo: dict[str, Any] = field(default_factory=dict)
    """Request fields a ``response`` object repeats (``instructions``, ``tools``, ...)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The ``guardrails`` object of the request (``config_id``, ``log``)."""


def parse_responses_request(body: Any) -> ResponsesRequest:
    """Validate a decoded JSON body; :class:`RequestError` names the first bad field.

    Example:
        .. code-block:: python

            request = parse_responses_request({"model": "plain", "input": "Hi"})
    """
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object", param=None)
    for key in _STATEFUL:
        if body.get(key) is not None:
            raise RequestError(
                f"{key} is not supported: the guardrails server stores no responses; "
                "send the whole conversation in input",
                param=key,
                code="unsupported_parameter",
            )
    if body.get("store") is True:
        raise RequestError(
            "store: true is not supported: the guardrails server stores no responses; "
            "send store: false",
            param="store",
            code="unsupported_value",
        )
    if body.get("background") is True:
        raise RequestError(
            "background: true is not supported", param="background", code="unsupported_value"
        )
    include = body.get("include")
    if include is not None and include != []:
        raise RequestError(
            f"include: the guardrails server cannot produce {include!r}",
            param="include",
            code="unsupported_value",
        )
    options = _object(body, "guardrails")
    config_id = body.get("config_id", options.get("config_id"))
    if config_id is not None and not isinstance(config_id, str):
        raise RequestError("config_id must be a string", param="config_id")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError("model must be a string", param="model")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise RequestError("stream must be a boolean", param="stream")
    messages: list[BaseMessage] = []
    instructions = body.get("instructions")
    if instructions is not None:
        messages.append(SystemMessage(content=_text(instructions, "instructions", str_only=True)))
    messages.extend(parse_input(body.get("input")))
    metadata = _object(body, "metadata")
    if not all(isinstance(v, str) for v in metadata.values()):
        raise RequestError("metadata values must be strings", param="metadata")
    kwargs, echo = _model_kwargs(body)
    return ResponsesRequest(
        messages=messages,
        config_id=config_id,
        model=model,
        stream=stream,
        model_kwargs=kwargs,
        echo={**echo, "instructions": instructions, "metadata": metadata},
        options=options,
    )


def parse_input(value: Any) -> list[BaseMessage]:
    """The ``input`` of a request (a string or a list of items) as LangChain messages.

    Example:
        .. code-block:: python

            parse_input([{"role": "user", "content": "Hi"}])  # [HumanMessage("Hi")]
    """
    if isinstance(value, str):
        return [HumanMessage(content=_text(value, "input", str_only=True))]
    if value is None:
        raise RequestError("'input' is a required property", param="input", code="missing_required")
    if not isinstance(value, list) or not value:
        raise RequestError("input must be a string or a non-empty array of items", param="input")
    out: list[BaseMessage] = []
    names: dict[str, str] = {}
    """call_id -> the function name of each ``function_call`` so far (for its output)."""
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise RequestError(f"{where} must be an object", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, where))
        elif kind == "function_call":
            call = _call(item, where)
            names[call["id"]] = call["name"]
            last = out[-1] if out else None
            # Parallel calls arrive as one item each; the model saw them as one message.
            if isinstance(last, AIMessage):
                field_name = "tool_calls" if call["type"] == "tool_call" else "invalid_tool_calls"
                update = {field_name: [*getattr(last, field_name), call]}
                out[-1] = last.model_copy(update=update)
            elif call["type"] == "tool_call":
                out.append(AIMessage(content="", tool_calls=[call]))
            else:
                out.append(AIMessage(content="", invalid_tool_calls=[call]))
        elif kind == "function_call_output":
            call_id = _string(item, "call_id", where)
            text = _text(item.get("output"), f"{where}.output")
            out.append(ToolMessage(content=text, tool_call_id=call_id, name=names.get(call_id)))
        elif kind == "reasoning":
            continue  # the model's own reasoning, echoed back: checked when it was released
        else:
            raise RequestError(
                f"{where}.type: {kind!r} is not supported (message, function_call, "
                "function_call_output, reasoning)",
                param=f"{where}.type",
            )
    return out


def _message(item: dict[str, Any], where: str) -> BaseMessage:
    role = item.get("role")
    if role not in _ROLES:
        raise RequestError(
            f"{where}.role: {role!r} is not one of {', '.join(_ROLES)}", param=f"{where}.role"
        )
    text = _text(item.get("content"), f"{where}.content")
    if role == "user":
        return HumanMessage(content=text)
    if role == "assistant":
        return AIMessage(content=text)
    return SystemMessage(content=text)


def _call(item: dict[str, Any], where: str) -> Any:
    call_id = _string(item, "call_id", where)
    name = _string(item, "name", where)
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        raise RequestError(f"{where}.arguments must be a string (JSON)", param=f"{where}.arguments")
    _text(arguments, f"{where}.arguments")
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except RecursionError as exc:
        raise too_deep(f"{where}.arguments") from exc
    except ValueError:
        args = None
    require_depth(args, f"{where}.arguments")
    if not isinstance(args, dict):
        # Models do emit broken arguments; the history keeps them as the model sent them.
        return invalid_tool_call(name=name, args=arguments, id=call_id, error=None)
    return tool_call(name=name, args=args, id=call_id)


def _string(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{where}.{key} must be a non-empty string", param=f"{where}.{key}")
    return value


def _text(value: Any, where: str, *, str_only: bool = False) -> str:
    if isinstance(value, list) and not str_only:
        parts = []
        for index, part in enumerate(value):
            at = f"{where}[{index}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "refusal":  # a refused answer of ours, sent back as history
                parts.append(_text(part.get("refusal"), f"{at}.refusal", str_only=True))
                continue
            if kind not in _TEXT_PARTS:
                raise RequestError(
                    f"{at}: only text content parts are supported ({', '.join(_TEXT_PARTS)})",
                    param=f"{at}.type" if isinstance(part, dict) else at,
                )
            parts.append(_text(part.get("text"), f"{at}.text", str_only=True))
        return "".join(parts)
    if not isinstance(value, str):
        kind = "a string" if str_only else "a string or an array of text parts"
        raise RequestError(f"{where} must be {kind}", param=where)
    # JSON may escape a lone surrogate ("\\ud800"); no model or rail can take that text.
    if not value.isascii() and _SURROGATE.search(value):
        raise RequestError(
            f"{where} holds a lone surrogate (\\ud800-\\udfff), which is not valid text",
            param=where,
        )
    return value


def _object(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{key} must be an object", param=key)
    return value


def _model_kwargs(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model kwargs of ``body`` and the fields a ``response`` object echoes."""
    kwargs: dict[str, Any] = {}
    echo: dict[str, Any] = {}
    for key, (kwarg, kind, low, high) in _NUMBERS.items():
        value = body.get(key)
        echo[key] = value
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind is int and not isinstance(value, int)):
            raise RequestError(
                f"{key} must be a{'n integer' if kind is int else ' number'}", param=key
            )
        if not ((not isinstance(value, float) or math.isfinite(value)) and low <= value <= high):
            raise RequestError(f"{key} must be between {low} and {high} (got {value!r})", param=key)
        kwargs[kwarg] = value
    reasoning = _object(body, "reasoning")
    effort = reasoning.get("effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise RequestError(
                f"reasoning.effort must be one of {', '.join(_EFFORTS)} (got {effort!r})",
                param="reasoning.effort",
            )
        kwargs["reasoning_effort"] = effort
    chat = _chat_tools(body)
    kwargs.update(chat)
    echo["tools"] = body.get("tools") or []
    echo["tool_choice"] = body.get("tool_choice") or "auto"
    echo["parallel_tool_calls"] = body.get("parallel_tool_calls") is not False
    echo["text"] = {"format": (_object(body, "text").get("format") or {"type": "text"})}
    return kwargs, echo


def _chat_tools(body: Mapping[str, Any]) -> dict[str, Any]:
    """Tools, tool choice and text format in the chat format, validated by ``tool_kwargs``."""
    chat: dict[str, Any] = {}
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise RequestError("tools must be an array", param="tools")
        chat["tools"] = [_chat_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        chat["tool_choice"] = choice
    if body.get("parallel_tool_calls") is not None:
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    text = _object(body, "text")
    form = text.get("format")
    if isinstance(form, dict) and form.get("type") == "json_schema":
        schema = {k: v for k, v in form.items() if k != "type"}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif form is not None:
        chat["response_format"] = form
    try:
        kwargs, _ = tool_kwargs(chat)
    except RequestError as exc:
        raise _renamed(exc) from None
    return kwargs


def _chat_tool(tool: Any, where: str) -> Any:
    if not isinstance(tool, dict):
        raise RequestError(f"{where} must be an object", param=where)
    if tool.get("type") != "function":
        raise RequestError(
            f"{where}.type: only 'function' tools are supported (got {tool.get('type')!r})",
            param=f"{where}.type",
            code="unsupported_value",
        )
    return {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}


_RENAMES = (
    (re.compile(r"(tools\[\d+\])\.function\."), r"\1."),
    (re.compile(r"response_format\.json_schema"), "text.format"),
    (re.compile(r"response_format"), "text.format"),
)
"""The chat format's field names, as the Responses request spells them."""


def _renamed(exc: RequestError) -> RequestError:
    message, param = exc.message, exc.param
    for pattern, repl in _RENAMES:
        message = pattern.sub(repl, message)
        param = pattern.sub(repl, param) if param else param
    return RequestError(message, status=exc.status, param=param, code=exc.code)


__all__ = ["ResponsesRequest", "parse_input", "parse_responses_request"]
