"""A server-sent-events response that stops generation when the client goes away.

Starlette's ``StreamingResponse`` notices a disconnect only on some ASGI versions, and may
leave the body generator suspended (not closed) when it does. This response always listens
for ``http.disconnect`` while streaming, and always closes the body generator, so a guarded
stream (and the model stream under it) is closed as soon as the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from langchain_guardrails.server.operations.disconnects import cancel_on_disconnect

if TYPE_CHECKING:
    from langchain_guardrails.server.operations.drain import Drain

T = TypeVar("T")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

KEEPALIVE_SECONDS = 10.0
"""Silence after which a comment line is sent (a hold-back window being checked by a slow
rail can take longer than proxies and clients wait for a byte)."""
KEEPALIVE = b": keep-alive\n\n"
"""An SSE comment: clients ignore it (the spec says so; the openai SDK does)."""


class EventStreamResponse(Response):
    """``text/event-stream`` body from an async iterator of already encoded events.

    With ``deadline`` (seconds), a stream still running then is stopped (its generator closed)
    and ends with the ``on_deadline`` bytes (an error event and ``[DONE]``). With ``drain``, a
    stream still running when the server's drain ends it is stopped the same way and ends with
    the ``on_drain`` bytes.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        status_code: int = 200,
        *,
        deadline: float | None = None,
        on_deadline: bytes | Callable[[], bytes] = b"",
        keepalive: float | None = None,
        drain: Drain | None = None,
        on_drain: bytes | Callable[[], bytes] = b"",
    ) -> None:
        self.events = events
        self.status_code = status_code
        self.background = None
        self.deadline = deadline
        self.on_deadline = on_deadline
        self.drain = drain
        self.on_drain = on_drain
        self.keepalive = KEEPALIVE_SECONDS if keepalive is None else keepalive
        """Seconds of silence before a ``: keep-alive`` comment (0: never)."""
        self.init_headers(SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with aclosing(self.events) as events:

            async def stream() -> None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    }
                )
                quiet = _Quiet()
                ticker = (
                    asyncio.ensure_future(_keep_alive(send, quiet, self.keepalive))
                    if self.keepalive > 0
                    else None
                )
                drain = self.drain
                limit = asyncio.timeout(self.deadline or None)
                try:
                    try:
                        async with limit:
                            if drain is not None:
                                drain.register(limit)
                            async for data in events:
                                quiet.sending = True
                                await send(
                                    {"type": "http.response.body", "body": data, "more_body": True}
                                )
                                quiet.sending = False
                                quiet.since = asyncio.get_running_loop().time()
                    except TimeoutError:
                        _stop(ticker)
                        await events.aclose()
                        cut = drain is not None and drain.cutting
                        await send(
                            {
                                "type": "http.response.body",
                                "body": _bytes(self.on_drain if cut else self.on_deadline),
                                "more_body": True,
                            }
                        )
                    _stop(ticker)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    return  # the client is gone; leaving closes the events
                finally:
                    _stop(ticker)
                    if drain is not None:
                        drain.unregister(limit)

            await cancel_on_disconnect(receive, stream)


class _Quiet:
    """When the stream last sent an event, and whether a send is under way."""

    __slots__ = ("sending", "since")

    def __init__(self) -> None:
        self.since = asyncio.get_running_loop().time()
        self.sending = False


def _stop(ticker: asyncio.Future[None] | None) -> None:
    # Not awaited: under a cancelled scope any await would raise again; it ends on its own.
    if ticker is not None:
        ticker.cancel()


async def _keep_alive(send: Send, quiet: _Quiet, interval: float) -> None:
    """Send a comment line whenever the stream has been silent for ``interval`` seconds."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(max(0.0, quiet.since + interval - loop.time()))
        if quiet.sending or loop.time() - quiet.since < interval:
            continue
        quiet.since = loop.time()
        try:
            await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
        except OSError:
            return  # the client is gone: the stream notices on its own


def _bytes(end: bytes | Callable[[], bytes]) -> bytes:
    # A callable end is built when the stream is cut: a protocol that numbers its events
    # (Responses' sequence_number) gives the error event the next number.
    return end if isinstance(end, bytes) else end()
