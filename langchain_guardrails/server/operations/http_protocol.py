"""uvicorn's HTTP/1.1 protocols with a deadline for request headers.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for the
headers of a request that trickles in byte by byte. These protocols close a connection that has
not sent a whole request head within ``header_timeout`` seconds of connecting or of its last
response. The ``httptools`` protocol (C parser) is used when that package is installed (the
``serve`` extra installs it): under load it costs a fraction of ``h11``'s CPU per frame.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HttpKind = Literal["auto", "h11", "httptools"]


class _HeaderDeadline:
    """The timer shared by both protocols; each says when a request head is still missing."""

    header_timeout: float
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _header_timer: asyncio.TimerHandle | None = None

    def _head_missing(self) -> bool:
        raise NotImplementedError

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self._head_missing() and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(header_timeout: float, http: HttpKind = "auto") -> type[Any]:
    """A uvicorn HTTP protocol class for ``uvicorn.run(..., http=...)`` with a header deadline.

    ``http="auto"`` takes ``httptools`` when it is installed, else ``h11``.

    Example:
        .. code-block:: python

            uvicorn.run(app, host="127.0.0.1", http=header_timeout_protocol(10.0))
    """
    if not header_timeout > 0:
        raise ValueError(f"header_timeout must be > 0 (got {header_timeout})")
    if http not in ("auto", "h11", "httptools"):
        raise ValueError(f"http must be 'auto', 'h11' or 'httptools' (got {http!r})")
    if http == "httptools" or (http == "auto" and importlib.util.find_spec("httptools")):
        return _httptools_protocol(header_timeout)
    return _h11_protocol(header_timeout)


def _h11_protocol(header_timeout: float) -> type[H11Protocol]:
    class HeaderTimeoutProtocol(_HeaderDeadline, H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def _head_missing(self) -> bool:
            # h11 stays IDLE until a whole request head has been parsed.
            between_requests = self.cycle is None or self.cycle.response_complete
            return between_requests and self.conn.their_state in (h11.IDLE, h11.DONE)

    HeaderTimeoutProtocol.header_timeout = header_timeout
    return HeaderTimeoutProtocol


def _httptools_protocol(header_timeout: float) -> type[Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError as exc:  # pragma: no cover - only without httptools
        raise ImportError(
            "http='httptools' needs the httptools package: "
            "pip install 'langchain-stream-guardrails[serve]'"
        ) from exc

    class HeaderTimeoutToolsProtocol(_HeaderDeadline, HttpToolsProtocol):
        _head_complete = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._head_complete = True
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # A pipelined request's head may already be in: it is running, not missing.
            self._head_complete = self.cycle is not None and not self.cycle.response_complete
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def _head_missing(self) -> bool:
            between_requests = self.cycle is None or self.cycle.response_complete
            return between_requests and not self._head_complete

    HeaderTimeoutToolsProtocol.header_timeout = header_timeout
    return HeaderTimeoutToolsProtocol
