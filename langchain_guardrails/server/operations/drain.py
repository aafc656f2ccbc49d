"""Shutdown with open streams: a stream still running near the end of the drain is ended
cleanly (an OpenAI-style error event, then ``data: [DONE]``) instead of being cut mid-event.

uvicorn stops accepting connections at ``SIGTERM`` and gives open requests
``--drain-timeout`` seconds before it cancels them, which would end a stream with no error
and no ``[DONE]``. :class:`Drain` hears the same signal and, shortly before that deadline,
moves the deadline of every open stream to *now*: each stream then stops its generation and
ends the way a request timeout does, with ``server_shutting_down``. Per stream this costs one
registration; per chunk nothing.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def shutdown_error() -> dict[str, Any]:
    """The error event of a stream ended because the server is shutting down.

    Example:
        .. code-block:: python

            shutdown_error()["error"]["code"]  # "server_shutting_down"
    """
    return {
        "error": {
            "message": "The server is shutting down; the generation was stopped. Retry the request",
            "type": "server_error",
            "param": None,
            "code": "server_shutting_down",
        }
    }


def cut_delay(drain_timeout: float) -> float:
    """Seconds after the signal at which open streams are ended: before uvicorn's own cut,
    with time left to send the last events (a quarter of the drain, at most one second)."""
    return max(0.0, drain_timeout - min(1.0, drain_timeout / 4))


class Drain:
    """The open streams of one app, ended with an error event shortly before the drain ends.

    Example:
        .. code-block:: python

            drain = Drain(30.0)
            restore = drain.watch_signals()   # in the app's lifespan
            ...
            restore()
    """

    def __init__(self, timeout: float | None) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError(f"drain_timeout must be >= 0 (got {timeout})")
        self.timeout = timeout
        self.cutting = False
        """True once open streams are being ended (the stream tells a cut from a timeout)."""
        self._open: set[asyncio.Timeout] = set()
        self._timer: asyncio.TimerHandle | None = None

    def register(self, limit: asyncio.Timeout) -> None:
        """Follow the deadline of one open stream (a stream opened during the cut ends now)."""
        self._open.add(limit)
        if self.cutting:
            limit.reschedule(asyncio.get_running_loop().time())

    def unregister(self, limit: asyncio.Timeout) -> None:
        """Forget a stream that ended."""
        self._open.discard(limit)

    @asynccontextmanager
    async def following(self, limit: asyncio.Timeout) -> AsyncIterator[None]:
        """Follow ``limit`` (the deadline of a whole answer) while the block runs."""
        self.register(limit)
        try:
            yield
        finally:
            self.unregister(limit)

    def start(self) -> None:
        """The server was told to stop: end the open streams after :func:`cut_delay`."""
        if self.timeout is None or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(cut_delay(self.timeout), self.cut)

    def cut(self) -> None:
        """End every open stream now (each sends its error event and ``[DONE]``)."""
        self.cutting = True
        now = asyncio.get_running_loop().time()
        for limit in list(self._open):
            if limit.expired():
                continue
            limit.reschedule(now)

    def watch_signals(self) -> Callable[[], None]:
        """Hear ``SIGTERM``/``SIGINT`` too (the server's own handler still runs first); returns
        a function that puts the previous handlers back. Only the main thread gets signals."""
        if self.timeout is None or threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in SIGNALS}

        def heard(sig: int, frame: FrameType | None) -> None:
            handler = previous.get(sig)
            if callable(handler):
                handler(sig, frame)
            loop.call_soon_threadsafe(self.start)

        for sig in SIGNALS:
            signal.signal(sig, heard)

        def restore() -> None:
            for sig, handler in previous.items():
                if signal.getsignal(sig) is heard:
                    signal.signal(sig, handler)
            if self._timer is not None:
                self._timer.cancel()

        return restore
