"""Optional API key: ``Authorization: Bearer <key>`` (or ``x-api-key: <key>``, as Anthropic's
clients send it) on every route but ``/health`` and the console's page and static files
(``/ui``: they hold no data; the page asks for the key its API calls need)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

API_KEY_ENV = "LANGCHAIN_GUARDRAILS_API_KEY"
"""Environment variable the CLI reads the API key from."""

OPEN_PATHS = frozenset({"/health", "/ui"})
OPEN_PREFIX = "/ui/static/"
ANTHROPIC_PATH = "/v1/messages"


class APIKeyMiddleware:
    """Reject requests without the right bearer token with an OpenAI-style 401.

    Example:
        .. code-block:: python

            app.add_middleware(APIKeyMiddleware, api_key="s3cret")
    """

    def __init__(self, app: ASGIApp, api_key: str | Sequence[str]) -> None:
        keys = [api_key] if isinstance(api_key, str) else list(api_key)
        if not keys or not all(keys):
            raise ValueError("api_key must be a non-empty string (or a list of them)")
        self.app = app
        self._keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in OPEN_PATHS
            or path.startswith(OPEN_PREFIX)
            or scope["method"] == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        token = presented_key(headers)
        # Constant-time comparison, with every key: no key may leak through response timing.
        matches = [hmac.compare_digest(token or b"", key) for key in self._keys]
        if token is not None and any(matches):
            await self.app(scope, receive, send)
            return
        given = b"authorization" in headers or b"x-api-key" in headers
        message = "Missing API key" if not given else "Incorrect API key provided"
        await send_error(
            send,
            401,
            message,
            "invalid_api_key",
            headers={"www-authenticate": "Bearer"},
            path=scope["path"],
        )


def presented_key(headers: Mapping[bytes, bytes]) -> bytes | None:
    """The API key a request presents: its bearer token, else its ``x-api-key`` (as Anthropic's
    clients send it), else ``None``.

    Example:
        .. code-block:: python

            presented_key({b"x-api-key": b"s3cret"})  # b"s3cret"
    """
    given = headers.get(b"authorization")
    if given is not None:
        scheme, _, token = given.partition(b" ")
        return token if scheme.lower() == b"bearer" and token else None
    return headers.get(b"x-api-key") or None


async def send_error(
    send: Send,
    status: int,
    message: str,
    code: str,
    *,
    type: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
    path: str | None = None,
) -> None:
    """Send an OpenAI-style JSON error straight from ASGI middleware (Anthropic's envelope
    when ``path`` is the Anthropic route, whose clients read only that)."""
    if path == ANTHROPIC_PATH:
        await send_json(send, status, anthropic_error(status, message), headers=headers)
        return
    error = {"error": {"message": message, "type": type, "param": None, "code": code}}
    await send_json(send, status, error, headers=headers)


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error envelope (``{"type": "error", "error": {"type", "message"}}``) for an
    HTTP ``status``.

    Example:
        .. code-block:: python

            anthropic_error(404, "no such config")["error"]["type"]  # "not_found_error"
    """
    kind = _ANTHROPIC_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


async def send_json(
    send: Send, status: int, content: Any, *, headers: dict[str, str] | None = None
) -> None:
    """Send a JSON body straight from ASGI middleware."""
    body = json.dumps(content).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
