"""How deep a decoded JSON value nests, measured without recursion.

Decoded JSON from a request or a file is copied, serialised and checked by code that recurses
once per level; a value nested deeper than the recursion limit fails there. Callers refuse
anything deeper than :data:`MAX_JSON_DEPTH` first (the server with a 400, ``eval`` with a usage
error naming the line).
"""

from __future__ import annotations

from typing import Any

MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and arrays accepted: in the server's
``tools[].function.parameters``, ``functions[].parameters``, ``response_format.json_schema`` and
tool-call ``arguments``, and in each line of an ``eval`` dataset. The value itself is level 1:
``{"a": {"b": []}}`` is 3 levels deep."""


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


__all__ = ["MAX_JSON_DEPTH", "json_depth"]
