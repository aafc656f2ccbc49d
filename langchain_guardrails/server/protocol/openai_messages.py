"""OpenAI request messages as LangChain messages, with a 400 naming the first bad field.

Besides ``system`` / ``developer`` / ``user`` / ``assistant`` text, an agent's history holds
assistant messages with ``tool_calls`` and ``role: "tool"`` results (or the legacy
``function_call`` and ``role: "function"``). Those become ``AIMessage.tool_calls`` and
``ToolMessage`` objects, so ``rails.tool_input`` checks every tool result before the model sees
it. A legacy call gets an id (``call_<n>``) that its ``function`` result answers.
"""

from __future__ import annotations

import json
import re
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
from langchain_guardrails.server.protocol.request_error import RequestError

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_messages(value: Any, param: str = "messages") -> list[BaseMessage]:
    """OpenAI messages as LangChain messages.

    Example:
        .. code-block:: python

            parse_messages([{"role": "user", "content": "Hi"}])  # [HumanMessage("Hi")]
    """
    if value is None:
        raise RequestError(
            f"'{param}' is a required property", param=param, code="missing_required"
        )
    if not isinstance(value, list) or not value:
        raise RequestError(f"'{param}' must be a non-empty array", param=param)
    out: list[BaseMessage] = []
    legacy_ids: list[str] = []
    """Ids given to legacy ``function_call``s not answered yet, oldest first."""
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise RequestError(f"{where} must be an object", param=where)
        role = item.get("role")
        if role not in ROLES:
            raise RequestError(
                f"{where}.role: {role!r} is not one of {', '.join(ROLES)}", param=f"{where}.role"
            )
        text = _content(item.get("content"), f"{where}.content", optional=role == "assistant")
        if role == "user":
            out.append(HumanMessage(content=text))
        elif role == "assistant":
            out.append(_assistant(item, text, where, index, legacy_ids))
        elif role == "tool":
            call_id = item.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise RequestError(
                    f"{where}.tool_call_id must be a non-empty string",
                    param=f"{where}.tool_call_id",
                )
            name = item.get("name")
            if name is not None and not isinstance(name, str):
                raise RequestError(f"{where}.name must be a string", param=f"{where}.name")
            out.append(ToolMessage(content=text, tool_call_id=call_id, name=name))
        elif role == "function":
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise RequestError(
                    f"{where}.name must be a non-empty string", param=f"{where}.name"
                )
            call_id = legacy_ids.pop(0) if legacy_ids else f"call_{index}"
            out.append(ToolMessage(content=text, tool_call_id=call_id, name=name))
        else:
            out.append(SystemMessage(content=text))
    return out


def _assistant(
    item: dict[str, Any], text: str, where: str, index: int, legacy_ids: list[str]
) -> AIMessage:
    raw = item.get("tool_calls")
    legacy = item.get("function_call")
    if raw is None and legacy is None:
        return AIMessage(content=text)
    if legacy is not None:
        if raw is not None:
            raise RequestError(
                f"{where}: use either tool_calls or function_call, not both",
                param=f"{where}.function_call",
            )
        call_id = f"call_{index}"
        legacy_ids.append(call_id)
        calls = [_call({"id": call_id, "function": legacy}, f"{where}.function_call", legacy=True)]
    else:
        if not isinstance(raw, list):
            raise RequestError(f"{where}.tool_calls must be an array", param=f"{where}.tool_calls")
        calls = [_call(c, f"{where}.tool_calls[{n}]") for n, c in enumerate(raw)]
    valid = [c for c in calls if c["type"] == "tool_call"]
    invalid = [c for c in calls if c["type"] == "invalid_tool_call"]
    return AIMessage(content=text, tool_calls=valid, invalid_tool_calls=invalid)


def _call(item: Any, where: str, *, legacy: bool = False) -> Any:
    if not isinstance(item, dict):
        raise RequestError(f"{where} must be an object", param=where)
    function = item.get("function")
    if legacy:
        where_fn = where
    else:
        where_fn = f"{where}.function"
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise RequestError(f"{where}.id must be a non-empty string", param=f"{where}.id")
        if item.get("type", "function") != "function":
            raise RequestError(f"{where}.type must be 'function'", param=f"{where}.type")
    if not isinstance(function, dict):
        raise RequestError(f"{where_fn} must be an object", param=where_fn)
    name, arguments = function.get("name"), function.get("arguments", "")
    if not isinstance(name, str) or not name:
        raise RequestError(f"{where_fn}.name must be a non-empty string", param=f"{where_fn}.name")
    if not isinstance(arguments, str):
        raise RequestError(
            f"{where_fn}.arguments must be a string (JSON)", param=f"{where_fn}.arguments"
        )
    _text(arguments, f"{where_fn}.arguments")
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except RecursionError as exc:
        raise too_deep(f"{where_fn}.arguments") from exc
    except ValueError:
        args = None
    require_depth(args, f"{where_fn}.arguments")
    if not isinstance(args, dict):
        # Models do emit broken arguments; the history keeps them as the model sent them.
        return invalid_tool_call(name=name, args=arguments, id=item["id"], error=None)
    return tool_call(name=name, args=args, id=item["id"])


def _content(value: Any, where: str, *, optional: bool) -> str:
    if isinstance(value, str):
        return _text(value, where)
    if value is None and optional:
        return ""
    if isinstance(value, list):
        parts = []
        for index, part in enumerate(value):
            if not (isinstance(part, dict) and part.get("type") == "text"):
                raise RequestError(
                    f"{where}[{index}]: only text content parts are supported",
                    param=f"{where}[{index}]",
                )
            text = part.get("text")
            if not isinstance(text, str):
                raise RequestError(
                    f"{where}[{index}].text must be a string", param=f"{where}[{index}].text"
                )
            parts.append(_text(text, f"{where}[{index}].text"))
        return "".join(parts)
    raise RequestError(f"{where} must be a string or an array of text parts", param=where)


def _text(value: str, where: str) -> str:
    # JSON may escape a lone surrogate ("\\ud800"); no model or rail can take that text.
    if not value.isascii() and _SURROGATE.search(value):
        raise RequestError(
            f"{where} holds a lone surrogate (\\ud800-\\udfff), which is not valid text",
            param=where,
        )
    return value


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so it can be encoded as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)
