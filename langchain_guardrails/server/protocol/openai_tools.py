"""Tools and structured output in OpenAI requests: validated, then passed to the model.

``tools``, ``tool_choice``, ``parallel_tool_calls`` and ``response_format`` go to the upstream
model as they are (OpenAI's format is what OpenAI-compatible models take). The legacy
``functions`` / ``function_call`` become ``tools`` / ``tool_choice``, so the model sees one
format, and the answer is rendered back as ``function_call`` (see :mod:`.deltas`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel

from langchain_guardrails.llm.model_parts import chat_model_of
from langchain_guardrails.server.protocol.json_depth import require_depth
from langchain_guardrails.server.protocol.request_error import RequestError

if TYPE_CHECKING:
    from langchain_guardrails.guard.chat_model import Guardrails

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHOICES = ("none", "auto", "required")
_LEGACY_CHOICES = ("none", "auto")
_FORMATS = ("text", "json_object", "json_schema")


def tool_kwargs(body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The model kwargs for the tools and format of ``body``, and whether it used ``functions``.

    Example:
        .. code-block:: python

            kwargs, legacy = tool_kwargs({"tools": [{"type": "function",
                                                     "function": {"name": "f"}}]})
    """
    tools, functions = body.get("tools"), body.get("functions")
    if tools and functions:
        raise RequestError("Use either tools or functions, not both", param="functions")
    kwargs: dict[str, Any] = {}
    legacy = bool(functions)
    if legacy:
        declared = [_function(f, f"functions[{i}]") for i, f in enumerate(_list(body, "functions"))]
        kwargs["tools"] = [{"type": "function", "function": f} for f in declared]
        choice = _legacy_choice(body.get("function_call"), {f["name"] for f in declared})
        if choice is not None:
            kwargs["tool_choice"] = choice
    else:
        if body.get("function_call") is not None:
            raise RequestError(
                "function_call is only allowed with functions", param="function_call"
            )
        listed = _list(body, "tools")
        kwargs["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(listed)]
        choice = _tool_choice(body.get("tool_choice"), {t["function"]["name"] for t in listed})
        if choice is not None:
            kwargs["tool_choice"] = choice
    if not kwargs["tools"]:
        del kwargs["tools"]
    parallel = body.get("parallel_tool_calls")
    if parallel is not None:
        if not isinstance(parallel, bool):
            raise RequestError("parallel_tool_calls must be a boolean", param="parallel_tool_calls")
        if "tools" in kwargs:
            kwargs["parallel_tool_calls"] = parallel
    response_format = _response_format(body.get("response_format"))
    if response_format is not None:
        kwargs["response_format"] = response_format
    return kwargs, legacy


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RequestError(f"{key} must be an array", param=key)
    return value


def _tool(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RequestError(f"{where} must be an object", param=where)
    if item.get("type") != "function":
        raise RequestError(
            f"{where}.type: only 'function' tools are supported (got {item.get('type')!r})",
            param=f"{where}.type",
        )
    _function(item.get("function"), f"{where}.function")
    _shallow_enough(item, where, skip="function")
    # A copy: the request body is never handed on to be changed by a model.
    return copy.deepcopy(item)


def _function(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RequestError(f"{where} must be an object", param=where)
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RequestError(
            f"{where}.name must be 1-64 letters, digits, '_' or '-' (got {name!r})",
            param=f"{where}.name",
        )
    description = item.get("description")
    if description is not None and not isinstance(description, str):
        raise RequestError(f"{where}.description must be a string", param=f"{where}.description")
    parameters = item.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise RequestError(f"{where}.parameters must be an object", param=f"{where}.parameters")
    _shallow_enough(item, where)
    return copy.deepcopy(item)


def _shallow_enough(item: dict[str, Any], where: str, skip: str | None = None) -> None:
    # Checked before the deep copy below, which (like orjson later) recurses once per level.
    for key, value in item.items():
        if key != skip:
            require_depth(value, f"{where}.{key}")


def _tool_choice(value: Any, names: set[str]) -> Any:
    if value is None:
        return None
    if not names:
        if value == "none":
            return None  # asks for nothing
        raise RequestError("tool_choice is only allowed when tools are given", param="tool_choice")
    if isinstance(value, str):
        if value not in _CHOICES:
            raise RequestError(
                f"tool_choice must be one of {', '.join(_CHOICES)} or a function (got {value!r})",
                param="tool_choice",
            )
        return value
    function = value.get("function") if isinstance(value, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not (isinstance(value, dict) and value.get("type") == "function" and isinstance(name, str)):
        raise RequestError(
            'tool_choice must be a string or {"type": "function", "function": {"name": ...}}',
            param="tool_choice",
        )
    if name not in names:
        raise RequestError(
            f"tool_choice names {name!r}, which is not one of the tools", param="tool_choice"
        )
    return {"type": "function", "function": {"name": name}}


def _legacy_choice(value: Any, names: set[str]) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and value in _LEGACY_CHOICES:
        return value
    name = value.get("name") if isinstance(value, dict) else None
    if not isinstance(name, str):
        raise RequestError(
            'function_call must be "none", "auto" or {"name": ...}', param="function_call"
        )
    if name not in names:
        raise RequestError(
            f"function_call names {name!r}, which is not one of the functions",
            param="function_call",
        )
    return {"type": "function", "function": {"name": name}}


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in _FORMATS:
        raise RequestError(
            f"response_format.type must be one of {', '.join(_FORMATS)} (got {kind!r})",
            param="response_format.type" if isinstance(value, dict) else "response_format",
        )
    if kind == "text":
        return None  # the default: nothing to ask for
    if kind == "json_object":
        return {"type": "json_object"}
    schema = value.get("json_schema")
    if not isinstance(schema, dict):
        raise RequestError(
            "response_format.json_schema must be an object", param="response_format.json_schema"
        )
    name = schema.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RequestError(
            f"response_format.json_schema.name must be 1-64 letters, digits, '_' or '-' "
            f"(got {name!r})",
            param="response_format.json_schema.name",
        )
    if schema.get("schema") is not None and not isinstance(schema.get("schema"), dict):
        raise RequestError(
            "response_format.json_schema.schema must be an object",
            param="response_format.json_schema.schema",
        )
    if schema.get("strict") is not None and not isinstance(schema.get("strict"), bool):
        raise RequestError(
            "response_format.json_schema.strict must be a boolean",
            param="response_format.json_schema.strict",
        )
    _shallow_enough(schema, "response_format.json_schema")
    return {"type": "json_schema", "json_schema": copy.deepcopy(schema)}


def require_tool_calling(guarded: Guardrails, config_id: str, legacy: bool) -> None:
    """A 400 when the model of ``config_id`` cannot call tools (rather than drop them).

    Example:
        .. code-block:: python

            require_tool_calling(guarded, "agents", legacy=False)
    """
    model = chat_model_of(guarded._parts.model)  # the wrapped model, bindings unwrapped
    bind_tools = getattr(type(model), "bind_tools", None)
    if bind_tools is None or bind_tools is BaseChatModel.bind_tools:
        key = "functions" if legacy else "tools"
        raise RequestError(
            f"the model of config {config_id!r} ({type(model).__name__}) cannot call tools",
            param=key,
            code="unsupported_parameter",
        )
