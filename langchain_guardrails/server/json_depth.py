"""The nesting limit of the JSON values a request hands on (tool schemas, tool-call arguments).

A JSON schema or a tool call's arguments go on to the model: copied (``copy.deepcopy``),
serialised (``orjson`` stops at 255 levels) and checked by rails, all of which recurse. A value
nested deeper than Python's (or orjson's) recursion limit would fail there as a 500; no real
schema or call is nested more than a few levels, so the server refuses anything deeper than
:data:`MAX_JSON_DEPTH` with a 400 naming the field, before any of that work starts.
"""

from __future__ import annotations

from typing import Any

from .request_error import RequestError

MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and arrays accepted in ``tools[].function.parameters``,
``functions[].parameters``, ``response_format.json_schema`` and tool-call ``arguments``. The
value itself is level 1: ``{"a": {"b": []}}`` is 3 levels deep."""


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep ``value`` nests objects and arrays, counting at most to ``limit + 1``.

    Walks with an explicit stack (never recursion), so any depth is measured safely; stops as
    soon as ``limit`` is exceeded, so the cost is bounded by the size of the value.

    Example:
        .. code-block:: python

            json_depth({"a": {"b": []}})  # 3
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def require_depth(value: Any, where: str) -> None:
    """A 400 naming ``where`` when ``value`` nests deeper than :data:`MAX_JSON_DEPTH`.

    Example:
        .. code-block:: python

            require_depth(body["tools"][0]["function"]["parameters"],
                          "tools[0].function.parameters")
    """
    if json_depth(value) > MAX_JSON_DEPTH:
        raise too_deep(where)


def too_deep(where: str) -> RequestError:
    """The 400 for a value at ``where`` nested deeper than :data:`MAX_JSON_DEPTH` (also for
    JSON text too deep to decode)."""
    return RequestError(
        f"{where} is nested too deeply (more than {MAX_JSON_DEPTH} levels)", param=where
    )


__all__ = ["MAX_JSON_DEPTH", "json_depth", "require_depth", "too_deep"]
