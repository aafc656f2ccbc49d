"""A lean HTTP/1.1 client for one upstream server-sent-events answer (asyncio + ``httptools``).

A gateway reads every upstream chunk once. Through ``httpx`` each chunk passes ``httpcore``,
``h11`` and ``anyio`` in pure Python, which measured as the largest part of the server's CPU with
200 streams at once. Here one ``POST`` is written on a pooled or new connection, the response is
parsed by ``httptools`` (the C parser uvicorn uses) and each event's ``data`` is handed over as
bytes. A whole answer gives its connection back to the :class:`ConnectionPool` (when there is
one); a reader that stops early (a block, a client that went away) closes it at once, which
also stops the upstream's generation.

Errors are ``httpx``'s own types (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``,
``RemoteProtocolError``), so callers catch the same exceptions on either client.
:func:`lean_route` says when this client applies; the caller uses ``httpx`` otherwise
(a proxy from the environment, credentials in the URL, no ``httptools``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

READ_SIZE = 65536
ERROR_BODY_LIMIT = 65536
"""Bytes of an error answer kept (for its status code and error code only)."""
EVENT_LIMIT = 8 * 1024 * 1024
"""Bytes one event may take: an upstream that never ends a line cannot fill the memory."""
DONE_GRACE = 1.0
"""Seconds to wait, after ``[DONE]``, for the end of the answer before a connection is reused."""
RETRY_DELAYS = (0.0, 0.5, 1.0, 2.0)
"""Pause before each retry of a connection that could not be opened (then 2 s each)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a request goes: scheme, host, port and the request target."""

    scheme: str
    host: str
    port: int
    target: str
    """Path and query, as sent on the request line."""
    authority: str
    """The ``Host`` header."""

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an upstream URL must be http:// or https:// with a host: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port == default else f"{shown}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, target, authority)


def lean_route(url: str) -> bool:
    """Whether :func:`post_events` can take ``url``: ``httptools`` is installed, no proxy of the
    environment applies to it, and it carries no credentials.

    Example:
        .. code-block:: python

            lean_route("http://127.0.0.1:8001/v1/chat/completions")  # True without a proxy
    """
    if importlib.util.find_spec("httptools") is None:
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


@dataclass(slots=True)
class _Response:
    """``httptools`` parser callbacks: the status, content type, and the events of the body."""

    parser: Any = None
    status: int = 0
    content_type: bytes = b""
    framed: bool = False
    """Whether the body has a length or chunked framing (else it ends with the connection)."""
    encoding: bytes = b""
    """A ``Content-Encoding`` other than identity (asked not to, the upstream used one)."""
    complete: bool = False
    keep_alive: bool = False
    """Whether the upstream lets the connection serve another request (HTTP/1.1 keep-alive)."""
    oversized: bool = False
    error_body: bytearray = field(default_factory=bytearray)
    events: list[bytes] = field(default_factory=list)
    _pending: bytearray = field(default_factory=bytearray)
    _data: list[bytes] = field(default_factory=list)
    _data_size: int = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value.lower()
        elif name == b"content-length" or name == b"transfer-encoding":
            self.framed = True
        elif name == b"content-encoding" and value.lower() not in (b"", b"identity"):
            self.encoding = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # Read here: httptools answers for the next message once this one is complete.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.status >= 300:
            if len(self.error_body) < ERROR_BODY_LIMIT:
                self.error_body += body[: ERROR_BODY_LIMIT - len(self.error_body)]
            return
        self._pending += body
        if b"\n" in body:
            self._split()
        if len(self._pending) + self._data_size > EVENT_LIMIT:
            self.oversized = True

    def on_message_complete(self) -> None:
        self.complete = True
        if self._pending:
            self._pending += b"\n"
            self._split()
        self._dispatch()  # a last event without its blank line

    def _split(self) -> None:
        lines = self._pending.split(b"\n")
        self._pending = bytearray(lines.pop())
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                self._dispatch()
            elif line.startswith(b"data:"):
                value = bytes(line[6:] if line.startswith(b"data: ") else line[5:])
                self._data.append(value)
                self._data_size += len(value)
            # Comments (keep-alives), `event:`, `id:` and `retry:` lines carry no chunk.

    def _dispatch(self) -> None:
        if self._data:
            self.events.append(self._data[0] if len(self._data) == 1 else b"\n".join(self._data))
            self._data = []
            self._data_size = 0


def _request(
    endpoint: Endpoint, headers: Mapping[str, str], body: bytes, *, keep_alive: bool = False
) -> bytes:
    lines = [
        f"POST {endpoint.target} HTTP/1.1",
        f"Host: {endpoint.authority}",
        "Accept: text/event-stream",
        "Accept-Encoding: identity",
        *(() if keep_alive else ("Connection: close",)),
        f"Content-Length: {len(body)}",
    ]
    for name, value in headers.items():
        if name.lower() in ("host", "content-length", "connection", "transfer-encoding"):
            continue
        if any(c in name + value for c in "\r\n\0"):
            raise ValueError(f"header {name!r} holds a line break or NUL")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _connect(
    endpoint: Endpoint, ssl_context: ssl.SSLContext | None, seconds: float | None, retries: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    tls = ssl_context if endpoint.scheme == "https" else None
    for attempt in range(retries + 1):
        try:
            async with asyncio.timeout(seconds):
                return await asyncio.open_connection(
                    endpoint.host, endpoint.port, ssl=tls, limit=READ_SIZE
                )
        except TimeoutError as exc:
            if attempt == retries:
                raise httpx.ConnectTimeout(f"no connection within {seconds} s") from exc
        except OSError as exc:
            if attempt == retries:
                raise httpx.ConnectError(f"could not connect: {exc.strerror or exc}") from exc
        await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover


class ConnectionPool:
    """Idle upstream connections of one event loop, by scheme, host and port.

    A connection goes back only after a whole answer that allows it (HTTP/1.1 keep-alive,
    nothing left unread); one idle longer than ``idle_seconds`` is closed rather than reused,
    as upstreams close idle connections themselves (uvicorn after 5 s).

    Example:
        .. code-block:: python

            pool = ConnectionPool(max_idle=32)
            async for data in post_events(url, headers, body, read_timeout=60, pool=pool):
                ...
    """

    def __init__(self, max_idle: int, idle_seconds: float = 4.0) -> None:
        if max_idle < 1:
            raise ValueError(f"max_idle must be >= 1 (got {max_idle})")
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._idle: dict[tuple[str, str, int], list[_Idle]] = {}

    def take(
        self, key: tuple[str, str, int]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The most recently returned live connection to ``key``, if any."""
        idle = self._idle.get(key)
        now = asyncio.get_running_loop().time()
        while idle:
            reader, writer, since = idle.pop()
            if now - since < self.idle_seconds and not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    def give(self, key: tuple[str, str, int], reader: asyncio.StreamReader,
             writer: asyncio.StreamWriter) -> None:  # fmt: skip
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self.max_idle or writer.is_closing():
            writer.close()
            return
        idle.append((reader, writer, asyncio.get_running_loop().time()))

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for _, writer, _ in idle:
                writer.close()
        self._idle.clear()


_Idle = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]


class _Stale(Exception):
    """A reused connection closed before any byte of the answer: send again on a new one."""


async def post_events(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    read_timeout: float | None,
    retries: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    pool: ConnectionPool | None = None,
) -> AsyncGenerator[bytes, None]:
    """``POST`` ``body`` to ``url`` and yield the ``data`` of each event until ``[DONE]``.

    ``read_timeout`` (seconds) bounds the connection and each wait for bytes. An answer with a
    status of 300 or more raises :class:`UpstreamStatus` with the start of its body. With a
    ``pool``, an idle connection is reused and a whole answer gives its connection back;
    without one (or when the reader stops early) the connection is closed at the end.

    Example:
        .. code-block:: python

            async for data in post_events(url, {"Content-Type": "application/json"}, body,
                                          read_timeout=60):
                event = orjson.loads(data)
    """
    endpoint = Endpoint.parse(url)
    request = _request(endpoint, headers, body, keep_alive=pool is not None)
    key = (endpoint.scheme, endpoint.host, endpoint.port)
    idle = pool.take(key) if pool is not None else None
    if idle is not None:
        try:
            async with aclosing(_exchange(idle, request, read_timeout, pool, key, True)) as events:
                async for event in events:
                    yield event
            return
        except _Stale:
            pass  # closed while idle: once more on a new connection
    connection = await _connect(endpoint, ssl_context, read_timeout, retries)
    async with aclosing(_exchange(connection, request, read_timeout, pool, key, False)) as events:
        async for event in events:
            yield event


async def _exchange(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    request: bytes,
    read_timeout: float | None,
    pool: ConnectionPool | None,
    key: tuple[str, str, int],
    reused: bool,
) -> AsyncGenerator[bytes, None]:
    import httptools

    reader, writer = connection
    response = _Response()
    response.parser = parser = httptools.HttpResponseParser(response)
    done = False
    data = b""
    try:
        writer.write(request)
        while True:
            try:
                # After [DONE] only the answer's last chunk is awaited, briefly.
                async with asyncio.timeout(DONE_GRACE if done else read_timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError as exc:
                if done:
                    return  # not reused: closed below
                raise httpx.ReadTimeout(f"no bytes from the upstream for {read_timeout} s") from exc
            except OSError as exc:
                if reused and not response.status:
                    raise _Stale from exc
                raise httpx.ReadError(f"reading the upstream failed: {exc}") from exc
            if data:
                try:
                    parser.feed_data(data)
                except httptools.HttpParserError as exc:
                    raise httpx.RemoteProtocolError(
                        "the upstream's answer is not HTTP/1.1"
                    ) from exc
            elif reused and not response.status:
                raise _Stale
            elif response.status and not response.framed and not response.complete:
                # Without Content-Length or chunked framing the body ends with the connection.
                response.on_message_complete()
            if response.status >= 300:
                if response.complete or not data:
                    raise UpstreamStatus(response.status, bytes(response.error_body))
                continue  # the error body is read whole first (for its code)
            if response.status and response.content_type.startswith(b"application/json"):
                raise httpx.RemoteProtocolError(
                    "the upstream answered JSON, not events, to a streaming request"
                )
            if response.encoding:
                encoding = response.encoding.decode("latin-1")
                raise httpx.RemoteProtocolError(
                    f"the upstream compressed its answer ({encoding}) although asked not to"
                )
            if response.oversized:
                raise httpx.RemoteProtocolError(
                    f"an upstream event exceeds {EVENT_LIMIT // (1024 * 1024)} MiB"
                )
            if response.events and not done:
                events, response.events = response.events, []
                for event in events:
                    if event == b"[DONE]":
                        done = True
                        break
                    yield event
            if response.complete or (done and pool is None):
                return
            if not data:
                raise httpx.RemoteProtocolError(
                    "the upstream closed the connection "
                    + ("mid-answer" if response.status else "before answering")
                )
            # After [DONE] with a pool: the rest of the answer (its last chunk) is read, so
            # the connection can serve the next request.
    finally:
        if (
            pool is not None
            and response.complete
            and data
            and response.keep_alive
            and not writer.is_closing()
        ):
            pool.give(key, reader, writer)
        else:
            writer.close()


class UpstreamStatus(Exception):
    """An upstream answer with an error status (the body is for its error code only)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"upstream answered HTTP {status}")
        self.status = status
        self.body = body
