"""uvicorn's HTTP/1.1 protocol with a deadline for request headers.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for the
headers of a request that trickles in byte by byte. This protocol closes a connection that has
not sent a whole request head within ``header_timeout`` seconds of connecting or of its last
response.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def header_timeout_protocol(header_timeout: float) -> type[H11Protocol]:
    """An ``H11Protocol`` class for ``uvicorn.run(..., http=...)`` with a header deadline.

    Example:
        .. code-block:: python

            uvicorn.run(app, host="127.0.0.1", http=header_timeout_protocol(10.0))
    """
    if not header_timeout > 0:
        raise ValueError(f"header_timeout must be > 0 (got {header_timeout})")

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(header_timeout, self._headers_overdue)

        def _headers_overdue(self) -> None:
            self._header_timer = None
            between_requests = self.cycle is None or self.cycle.response_complete
            waiting = self.conn.their_state in (h11.IDLE, h11.DONE)
            if between_requests and waiting and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol
