"""What a failed generation is answered with: 502 ``upstream_error`` when the upstream failed
or sent something the gateway cannot use, 500 ``server_error`` otherwise.

The upstream is the main model behind the gateway. On the fast path its failures are
:class:`~langchain_guardrails.server.upstream.client.UpstreamError` (HTTP errors, error events and
malformed chunks, each with a message of ours that never quotes the upstream's text). On the
LangChain path ``ChatOpenAI`` parses the upstream's chunks itself: a malformed chunk surfaces as
whatever its converter raises (``TypeError``, ``AttributeError``, pydantic's
``ValidationError``, whose text quotes the chunk), so there the frames of the traceback tell
where it came from. Only the exception's type is named then.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from langchain_guardrails.server.upstream.client import UpstreamError
from langchain_guardrails.streaming.tool_calls import MalformedToolCall

_CLIENT_PACKAGES = ("openai", "langchain_openai")
"""The upstream's client libraries: an exception raised inside them is the upstream's."""


def upstream_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is the upstream's failure rather than the gateway's own.

    Example:
        .. code-block:: python

            upstream_failed(UpstreamError("upstream answered HTTP 503"))  # True
    """
    if isinstance(exc, UpstreamError | MalformedToolCall):
        return True
    return _raised_in_client(exc.__traceback__)


def _raised_in_client(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.partition(".")[0] in _CLIENT_PACKAGES:
            return True
        tb = tb.tb_next
    return False


def failure(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI error body of a failed generation (details go to the log).

    Example:
        .. code-block:: python

            failure(RuntimeError("boom"))  # (500, {"error": {"type": "server_error", ...}})
    """
    if not upstream_failed(exc):
        return 500, generation_error(exc)
    # Our own messages name a field and a type, never the upstream's text; for anything else
    # (a client library's error may quote the chunk) the type alone.
    ours = isinstance(exc, UpstreamError | MalformedToolCall)
    detail = str(exc) if ours else type(exc).__name__
    return 502, {
        "error": {
            "message": f"The upstream model failed ({detail}); see the server log",
            "type": "upstream_error",
            "param": None,
            "code": "upstream_failed",
        }
    }


def generation_error(exc: BaseException) -> dict[str, Any]:
    """The error body of a failed generation (the details stay in the server log)."""
    return {
        "error": {
            "message": f"The guarded generation failed ({type(exc).__name__}); see the server log",
            "type": "server_error",
            "param": None,
            "code": "generation_failed",
        }
    }
