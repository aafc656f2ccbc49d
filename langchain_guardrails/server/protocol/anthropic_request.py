"""Anthropic Messages requests as LangChain messages and model kwargs, with a 400 naming the
first bad field.

``system`` becomes the system message; ``messages`` hold ``text``, ``tool_use`` (assistant) and
``tool_result`` (user) blocks, which become ``AIMessage.tool_calls`` and ``ToolMessage`` objects,
so ``rails.tool_input`` checks every tool result before the model sees it. ``tools`` become
OpenAI function tools (the upstream's format) and ``tool_choice`` its OpenAI equivalent.
Earlier ``thinking`` blocks are dropped: the upstream did not sign them and does not need them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import tool_call

from langchain_guardrails.server.protocol.json_depth import require_depth
from langchain_guardrails.server.protocol.request_error import RequestError

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_TOKENS = 1_000_000
_UNSUPPORTED = (
    "top_k", "container", "mcp_servers", "context_management", "output_format", "output_config",
)  # fmt: skip
"""Fields the gateway cannot honour: a 400 when set, never silently ignored."""
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """A validated ``POST /v1/messages`` body."""

    messages: list[BaseMessage]
    config_id: str | None
    model: str | None
    stream: bool
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    """``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``tools``... in OpenAI's names."""


def parse_messages_request(body: Any) -> MessagesRequest:
    """Validate a decoded JSON body; :class:`RequestError` names the first bad field.

    Example:
        .. code-block:: python

            request = parse_messages_request(
                {"model": "main", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
            )
    """
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object")
    options = body.get("guardrails") or {}
    if not isinstance(options, dict):
        raise RequestError("guardrails must be an object", param="guardrails")
    config_id = body.get("config_id", options.get("config_id"))
    if config_id is not None and not isinstance(config_id, str):
        raise RequestError("config_id must be a string", param="config_id")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model: a non-empty string is required", param="model")
    for key in _UNSUPPORTED:
        if body.get(key) is not None:
            raise RequestError(
                f"{key} is not supported by the guardrails server", param=key,
                code="unsupported_parameter",
            )  # fmt: skip
    thinking = body.get("thinking")
    if thinking is not None and not (
        isinstance(thinking, dict) and thinking.get("type") == "disabled"
    ):
        raise RequestError(
            'thinking is not supported by the guardrails server (only {"type": "disabled"})',
            param="thinking",
        )
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RequestError("metadata must be an object", param="metadata")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("stream must be a boolean", param="stream")
    system = _system(body.get("system"))
    messages = _messages(body.get("messages"))
    return MessagesRequest(
        messages=[SystemMessage(content=system), *messages] if system else messages,
        config_id=config_id,
        model=model,
        stream=bool(stream),
        model_kwargs={**_sampling(body), **_tools(body)},
    )


def _system(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _checked_text(value, "system")
    return _text_blocks(value, "system")


def _text_blocks(value: Any, where: str) -> str:
    if not isinstance(value, list):
        raise RequestError(f"{where} must be a string or an array of text blocks", param=where)
    parts = []
    for index, block in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise RequestError(f"{at}: only text blocks are supported here", param=f"{at}.type")
        parts.append(_string(block, "text", at))
    return "".join(parts)


def _checked_text(value: str, where: str) -> str:
    # JSON may escape a lone surrogate ("\\ud800"); no model or rail can take that text.
    if not value.isascii() and _SURROGATE.search(value):
        raise RequestError(
            f"{where} holds a lone surrogate (\\ud800-\\udfff), which is not valid text",
            param=where,
        )
    return value


def _string(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise RequestError(f"{where}.{key} must be a string", param=f"{where}.{key}")
    return _checked_text(value, f"{where}.{key}")


def _messages(value: Any) -> list[BaseMessage]:
    if value is None:
        raise RequestError("messages: field required", param="messages", code="missing_required")
    if not isinstance(value, list) or not value:
        raise RequestError("messages must be a non-empty array", param="messages")
    out: list[BaseMessage] = []
    names: dict[str, str] = {}
    """``tool_use`` id -> tool name, so each result names the call it answers."""
    for index, item in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise RequestError(f"{where} must be an object", param=where)
        role = item.get("role")
        if role not in ("user", "assistant"):
            raise RequestError(
                f"{where}.role: {role!r} is not one of user, assistant", param=f"{where}.role"
            )
        content = item.get("content")
        if isinstance(content, str):
            text = _checked_text(content, f"{where}.content")
            out.append(HumanMessage(content=text) if role == "user" else AIMessage(content=text))
        elif not isinstance(content, list):
            raise RequestError(
                f"{where}.content must be a string or an array of blocks", param=f"{where}.content"
            )
        elif role == "user":
            out.extend(_user_blocks(content, f"{where}.content", names))
        else:
            out.append(_assistant_blocks(content, f"{where}.content", names))
    return out


def _user_blocks(blocks: list[Any], where: str, names: dict[str, str]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    text: list[str] = []
    for index, block in enumerate(blocks):
        at = f"{where}[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(_string(block, "text", at))
            continue
        if kind != "tool_result":
            raise RequestError(
                f"{at}.type: {kind!r} is not supported in user messages (text, tool_result)",
                param=f"{at}.type",
            )
        if text:  # keep the order the client wrote
            out.append(HumanMessage(content="".join(text)))
            text = []
        call_id = _string(block, "tool_use_id", at)
        result = block.get("content", "")
        result_text = result if isinstance(result, str) else _text_blocks(result, f"{at}.content")
        is_error = block.get("is_error", False)
        if not isinstance(is_error, bool):
            raise RequestError(f"{at}.is_error must be a boolean", param=f"{at}.is_error")
        out.append(
            ToolMessage(
                content=_checked_text(result_text, f"{at}.content"),
                tool_call_id=call_id,
                name=names.get(call_id),
                status="error" if is_error else "success",
            )
        )
    if text or not out:
        out.append(HumanMessage(content="".join(text)))
    return out


def _assistant_blocks(blocks: list[Any], where: str, names: dict[str, str]) -> AIMessage:
    text: list[str] = []
    calls = []
    for index, block in enumerate(blocks):
        at = f"{where}[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(_string(block, "text", at))
        elif kind == "tool_use":
            call_id, name = _string(block, "id", at), _string(block, "name", at)
            args = block.get("input")
            if not isinstance(args, dict):
                raise RequestError(f"{at}.input must be an object", param=f"{at}.input")
            require_depth(args, f"{at}.input")
            names[call_id] = name
            calls.append(tool_call(name=name, args=copy.deepcopy(args), id=call_id))
        elif kind not in _SKIPPED_BLOCKS:
            raise RequestError(
                f"{at}.type: {kind!r} is not supported in assistant messages (text, tool_use)",
                param=f"{at}.type",
            )
    return AIMessage(content="".join(text), tool_calls=calls)


def _sampling(body: Mapping[str, Any]) -> dict[str, Any]:
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise RequestError(
            "max_tokens: field required", param="max_tokens", code="missing_required"
        )
    if type(max_tokens) is not int or not 1 <= max_tokens <= _MAX_TOKENS:
        raise RequestError(
            f"max_tokens must be an integer between 1 and {_MAX_TOKENS}", param="max_tokens"
        )
    kwargs: dict[str, Any] = {"max_tokens": max_tokens}
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise RequestError(f"{key} must be a number between 0 and 1", param=key)
        kwargs[key] = value
    stop = body.get("stop_sequences")
    if stop is not None:
        if not (isinstance(stop, list) and all(isinstance(s, str) and s for s in stop)):
            raise RequestError(
                "stop_sequences must be an array of non-empty strings", param="stop_sequences"
            )
        if stop:
            kwargs["stop"] = list(stop)
    return kwargs


def _tools(body: Mapping[str, Any]) -> dict[str, Any]:
    listed = body.get("tools")
    if listed is None:
        listed = []
    if not isinstance(listed, list):
        raise RequestError("tools must be an array", param="tools")
    tools = [_tool(item, f"tools[{index}]") for index, item in enumerate(listed)]
    kwargs: dict[str, Any] = {"tools": tools} if tools else {}
    choice = body.get("tool_choice")
    if choice is None:
        return kwargs
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise RequestError(
            "tool_choice.type must be one of auto, any, tool, none", param="tool_choice.type"
        )
    if kind == "none":
        return {**kwargs, "tool_choice": "none"} if tools else kwargs
    if not tools:
        raise RequestError("tool_choice is only allowed when tools are given", param="tool_choice")
    if kind == "tool":
        name = choice.get("name")
        if name not in {t["function"]["name"] for t in tools}:
            raise RequestError(
                f"tool_choice.name: {name!r} is not one of the tools", param="tool_choice.name"
            )
        kwargs["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        kwargs["tool_choice"] = "required" if kind == "any" else "auto"
    parallel_off = choice.get("disable_parallel_tool_use")
    if parallel_off is not None:
        if not isinstance(parallel_off, bool):
            raise RequestError(
                "tool_choice.disable_parallel_tool_use must be a boolean",
                param="tool_choice.disable_parallel_tool_use",
            )
        kwargs["parallel_tool_calls"] = not parallel_off
    return kwargs


def _tool(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RequestError(f"{where} must be an object", param=where)
    if item.get("type", "custom") != "custom":
        raise RequestError(
            f"{where}.type: only custom tools (name, input_schema) are supported "
            f"(got {item.get('type')!r})",
            param=f"{where}.type",
        )
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RequestError(
            f"{where}.name must be 1-64 letters, digits, '_' or '-' (got {name!r})",
            param=f"{where}.name",
        )
    schema = item.get("input_schema")
    if not isinstance(schema, dict):
        raise RequestError(f"{where}.input_schema must be an object", param=f"{where}.input_schema")
    require_depth(schema, f"{where}.input_schema")
    function: dict[str, Any] = {"name": name, "parameters": copy.deepcopy(schema)}
    description = item.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise RequestError(
                f"{where}.description must be a string", param=f"{where}.description"
            )
        function["description"] = description
    return {"type": "function", "function": function}


__all__ = ["MessagesRequest", "parse_messages_request"]
