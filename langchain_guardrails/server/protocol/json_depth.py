"""The nesting limit of the JSON values a request hands on (tool schemas, tool-call arguments).

A JSON schema or a tool call's arguments go on to the model: copied (``copy.deepcopy``),
serialised (``orjson`` stops at 255 levels) and checked by rails, all of which recurse. A value
nested deeper than Python's (or orjson's) recursion limit would fail there as a 500; no real
schema or call is nested more than a few levels, so the server refuses anything deeper than
:data:`MAX_JSON_DEPTH` (measured by :mod:`langchain_guardrails.engine.json_depth`) with a 400 naming
the field, before any of that work starts.
"""

from __future__ import annotations

from typing import Any

from langchain_guardrails.engine.json_depth import MAX_JSON_DEPTH, json_depth
from langchain_guardrails.server.protocol.request_error import RequestError


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
