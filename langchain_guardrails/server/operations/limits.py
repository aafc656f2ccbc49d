"""Request limits as ASGI middleware: whole bodies first, then a slot among the generations.

A POST body is read completely (within ``body_timeout`` and ``max_bytes``) *before* the request
takes a generation slot, so clients that send headers and then trickle (or never send) their
body cannot hold slots: they get 408 when the body does not arrive in time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from langchain_guardrails.server.operations.auth import send_error
from langchain_guardrails.server.operations.disconnects import cancel_on_disconnect

BODY_KEY = "guardrails.body"
"""Scope key of the request body, once :class:`RequestBodyMiddleware` has read it."""
JSON_KEY = "guardrails.json"
"""Scope key of the decoded JSON body (absent when the body is not valid JSON)."""


class RequestBodyMiddleware:
    """Read each POST body whole before the app runs: 413 over ``max_bytes``, 408 when it does
    not arrive within ``timeout`` seconds, 400 when its JSON is nested too deeply to decode.

    The app then receives the body in one message, and later ``receive()`` calls reach the
    server as usual (to notice a disconnect).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 10.0) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1 (got {max_bytes})")
        if not timeout > 0:
            raise ValueError(f"body_timeout must be > 0 (got {timeout})")
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = f"The request body is larger than the limit of {self.max_bytes} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_error(send, 413, too_large, "request_too_large", path=scope["path"])
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            await send_error(
                send,
                408,
                f"The request body did not arrive within {self.timeout:g} s",
                "request_timeout",
                path=scope["path"],
            )
            return
        except _TooLarge:
            await send_error(send, 413, too_large, "request_too_large", path=scope["path"])
            return
        if body is None:
            return  # the client left before sending its body
        inner = {**scope, BODY_KEY: body}
        try:
            inner[JSON_KEY] = json.loads(body)
        except RecursionError:
            await send_error(
                send,
                400,
                "The request body is nested too deeply (JSON)",
                "invalid_json",
                path=scope["path"],
            )
            return
        except ValueError:
            pass  # the route names what is wrong with it
        await self.app(inner, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_bytes:
                raise _TooLarge
            parts.append(part)
            if not message.get("more_body", False):
                return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class ConcurrencyLimitMiddleware:
    """At most ``limit`` generations at once; more get 503 with ``Retry-After``.

    Only ``POST`` requests under ``prefixes`` count (schemas and listings do not), from the
    moment their body has been read until their response (a whole stream) is finished or the
    client left. A LangServe ``/batch`` counts one per input; a batch with more inputs than
    ``limit`` gets 400. LangServe ``/invoke`` and ``/batch`` are cancelled when the client
    leaves (the other routes stop by themselves).
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        prefixes: Iterable[str],
        retry_after: int = 1,
        on_busy: Callable[[], None] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"max_concurrency must be >= 1 (got {limit})")
        self.app = app
        self.limit = limit
        self.prefixes = tuple(prefixes)
        self.retry_after = retry_after
        self.on_busy = on_busy
        self.active = 0
        """Generations in flight now (one event loop: a plain counter is enough)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        langserve = path.startswith("/configs/")
        weight = _batch_size(scope.get(JSON_KEY)) if path.endswith("/batch") else 1
        if weight > self.limit:
            await send_error(
                send,
                400,
                f"A batch may hold at most {self.limit} inputs (the server's max concurrency); "
                f"this one holds {weight}",
                "batch_too_large",
                path=scope["path"],
            )
            return
        if self.active + weight > self.limit:
            if self.on_busy is not None:
                self.on_busy()
            await send_error(
                send,
                503,
                f"The server is at its limit of {self.limit} concurrent requests; retry later",
                "server_busy",
                type="server_error",
                headers={"retry-after": str(self.retry_after)},
                path=scope["path"],
            )
            return
        self.active += weight
        try:
            if langserve and path.endswith(("/invoke", "/batch")):
                await _cancel_on_disconnect(self.app, scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            self.active -= weight


async def _cancel_on_disconnect(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    # The body was read whole by RequestBodyMiddleware: the first message is all of it, and
    # what follows can only be the disconnect, which this side watches for the app.
    first: Message | None = await receive()

    async def app_receive() -> Message:
        nonlocal first
        if first is not None:
            message, first = first, None
            return message
        await asyncio.Future()  # never: the app is cancelled when the client leaves
        raise AssertionError("unreachable")

    async def run() -> None:
        await app(scope, app_receive, send)

    await cancel_on_disconnect(receive, run)


def _batch_size(body: Any) -> int:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    return max(1, len(inputs)) if isinstance(inputs, list) else 1


class _TooLarge(Exception):
    pass
