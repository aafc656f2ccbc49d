"""Request limits as ASGI middleware: concurrent generations, and request body size."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import send_error


class ConcurrencyLimitMiddleware:
    """At most ``limit`` generation requests at once; more get 503 with ``Retry-After``.

    A request counts from its arrival until its response (a whole stream) is finished or the
    client left. Only ``POST`` requests under ``prefixes`` count (schemas and listings do not).
    """

    def __init__(
        self, app: ASGIApp, limit: int, prefixes: Iterable[str], retry_after: int = 1
    ) -> None:
        if limit < 1:
            raise ValueError(f"max_concurrency must be >= 1 (got {limit})")
        self.app = app
        self.limit = limit
        self.prefixes = tuple(prefixes)
        self.retry_after = retry_after
        self.active = 0
        """Requests being served now (one event loop: a plain counter is enough)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            await send_error(
                send,
                503,
                f"The server is at its limit of {self.limit} concurrent requests; retry later",
                "server_busy",
                type="server_error",
                headers={"retry-after": str(self.retry_after)},
            )
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class BodySizeLimitMiddleware:
    """Reject request bodies over ``max_bytes`` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1 (got {max_bytes})")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"The request body is larger than the limit of {self.max_bytes} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_error(send, 413, message, "request_too_large")
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            item = await receive()
            if item["type"] == "http.request":
                received += len(item.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return item

        async def tracking_send(item: Message) -> None:
            nonlocal started
            started = started or item["type"] == "http.response.start"
            await send(item)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await send_error(send, 413, message, "request_too_large")


class _TooLarge(Exception):
    pass
