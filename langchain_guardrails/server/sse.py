"""A server-sent-events response that stops generation when the client goes away.

Starlette's ``StreamingResponse`` notices a disconnect only on some ASGI versions, and may
leave the body generator suspended (not closed) when it does. This response always listens
for ``http.disconnect`` while streaming, and always closes the body generator, so a guarded
stream (and the model stream under it) is closed as soon as the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing, nullcontext
from typing import TypeVar

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(Response):
    """``text/event-stream`` body from an async iterator of already encoded events.

    With ``deadline`` (seconds), a stream still running then is stopped (its generator closed)
    and ends with the ``on_deadline`` bytes (an error event and ``[DONE]``).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        status_code: int = 200,
        *,
        deadline: float | None = None,
        on_deadline: bytes = b"",
    ) -> None:
        self.events = events
        self.status_code = status_code
        self.background = None
        self.deadline = deadline
        self.on_deadline = on_deadline
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
                try:
                    limit = asyncio.timeout(self.deadline) if self.deadline else nullcontext()
                    try:
                        async with limit:
                            async for data in events:
                                await send(
                                    {"type": "http.response.body", "body": data, "more_body": True}
                                )
                    except TimeoutError:
                        await events.aclose()
                        await send(
                            {
                                "type": "http.response.body",
                                "body": self.on_deadline,
                                "more_body": True,
                            }
                        )
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    return  # the client is gone; leaving closes the events

            await cancel_on_disconnect(receive, stream)


async def until_disconnect(receive: Receive) -> None:
    """Return when the client disconnects (the request body has already been read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def cancel_on_disconnect(
    receive: Receive, work: Callable[[], Awaitable[T]]
) -> tuple[bool, T | None]:
    """Run ``work()``; cancel it if the client disconnects first.

    Returns ``(disconnected, result)``; an exception of ``work`` propagates as itself.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    async with anyio.create_task_group() as group:

        async def run() -> None:
            try:
                outcome.append(await work())
            except Exception as exc:  # re-raised below as itself, not as an ExceptionGroup
                failure.append(exc)
            group.cancel_scope.cancel()

        group.start_soon(run)
        await until_disconnect(receive)
        group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if outcome:
        return False, outcome[0]
    return True, None
