"""Limits per API key: concurrent generations and requests per minute, in one process or Redis.

With API keys configured, a key is the caller's bearer token (only a hash of it is kept;
the API key check has already accepted it). Without API keys any token would be accepted, so a
client could dodge its limits by changing tokens: the limits then count by client address
(``scope["client"]``; behind a proxy run uvicorn with ``--proxy-headers`` so this is the real
client, not the proxy). Without
Redis the counts live in the process: with ``--workers N`` each worker counts on its own, so a
key may have up to N times its limit. With ``redis_url`` every process (and machine) shares
the counts. Concurrency slots in Redis are leases that expire ``lease_seconds`` after their
last use, so slots of a crashed worker come back by themselves.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import send_error

logger = logging.getLogger("langchain_guardrails.server")

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Denied:
    """Why a request was refused, and when to retry."""

    message: str
    code: str
    retry_after: int


class KeyLimits(Protocol):
    """Where the counts of each key live."""

    async def acquire(self, key: str) -> Denied | None:
        """Take a slot (and count a request) for ``key``, or say why not (messages name an
        "API key"; :class:`KeyLimitMiddleware` renames it for address keys)."""
        ...

    async def release(self, key: str) -> None:
        """Give back the slot taken by a successful :meth:`acquire`."""
        ...


def _denied_concurrency(limit: int) -> Denied:
    return Denied(
        f"This API key is at its limit of {limit} concurrent requests; retry later",
        "concurrency_limit_exceeded",
        1,
    )


def _denied_rate(limit: int, retry_after: int) -> Denied:
    return Denied(
        f"This API key is at its limit of {limit} requests per minute; retry later",
        "rate_limit_exceeded",
        max(1, retry_after),
    )


class LocalKeyLimits:
    """Counts in this process (one event loop: plain dicts are enough).

    Example:
        .. code-block:: python

            limits = LocalKeyLimits(max_concurrency=10, requests_per_minute=600)
    """

    def __init__(self, max_concurrency: int | None, requests_per_minute: int | None) -> None:
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self._active: defaultdict[str, int] = defaultdict(int)
        self._window: tuple[int, defaultdict[str, int]] = (0, defaultdict(int))

    async def acquire(self, key: str) -> Denied | None:
        limit = self.max_concurrency
        if limit is not None and self._active[key] >= limit:
            return _denied_concurrency(limit)
        rpm = self.requests_per_minute
        if rpm is not None:
            now = time.time()
            minute = int(now // 60)
            if self._window[0] != minute:
                self._window = (minute, defaultdict(int))
            counts = self._window[1]
            if counts[key] >= rpm:
                return _denied_rate(rpm, 60 - int(now % 60))
            counts[key] += 1
        self._active[key] += 1
        return None

    async def release(self, key: str) -> None:
        self._active[key] -= 1
        if self._active[key] <= 0:
            del self._active[key]


_ACQUIRE = """
local conc_limit = tonumber(ARGV[1])
local rpm_limit = tonumber(ARGV[2])
if conc_limit > 0 then
  local active = tonumber(redis.call('GET', KEYS[1]) or '0')
  if active >= conc_limit then return {1, 1} end
end
if rpm_limit > 0 then
  local used = redis.call('INCR', KEYS[2])
  if used == 1 then redis.call('EXPIRE', KEYS[2], 61) end
  if used > rpm_limit then return {2, redis.call('TTL', KEYS[2])} end
end
if conc_limit > 0 then
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return {0, 0}
"""
_RELEASE = """
local left = redis.call('DECR', KEYS[1])
if left <= 0 then redis.call('DEL', KEYS[1]) end
return left
"""


class RedisKeyLimits:
    """Counts in Redis, shared by every worker and machine (``redis`` client, ``serve`` extra).

    Example:
        .. code-block:: python

            limits = RedisKeyLimits("redis://127.0.0.1:6379/0", max_concurrency=10,
                                    requests_per_minute=None)
    """

    def __init__(
        self,
        url: str,
        max_concurrency: int | None,
        requests_per_minute: int | None,
        *,
        lease_seconds: int = 900,
        prefix: str = "langchain-guardrails",
    ) -> None:
        from ..errors import require

        self._redis = require("redis.asyncio", "serve")
        self.url = url
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.lease_seconds = lease_seconds
        self.prefix = prefix
        self._client: Any = None

    def _connection(self) -> Any:
        # Made on first use, inside the worker's event loop.
        if self._client is None:
            # A burst waits for a free connection (a few ms) rather than failing.
            pool = self._redis.BlockingConnectionPool.from_url(
                self.url, max_connections=64, timeout=5
            )
            self._client = self._redis.Redis(connection_pool=pool)
        return self._client

    async def acquire(self, key: str) -> Denied | None:
        client = self._connection()
        minute = int(time.time() // 60)
        keys = [f"{self.prefix}:active:{key}", f"{self.prefix}:rpm:{key}:{minute}"]
        args = [self.max_concurrency or 0, self.requests_per_minute or 0, self.lease_seconds]
        verdict, wait = await client.eval(_ACQUIRE, 2, *keys, *args)
        if verdict == 1:
            return _denied_concurrency(self.max_concurrency or 0)
        if verdict == 2:
            return _denied_rate(self.requests_per_minute or 0, int(wait))
        return None

    async def release(self, key: str) -> None:
        if self.max_concurrency:
            await self._connection().eval(_RELEASE, 1, f"{self.prefix}:active:{key}")

    async def ping(self) -> None:
        """Return when Redis answers a ``PING`` (``/health``); raise when it does not."""
        await self._connection().ping()


ADDRESS_PREFIX = "addr:"


def caller_key(scope: Scope, *, by_token: bool = True) -> str:
    """The limits key of a request: a hash of its bearer token (or ``anonymous``) when
    ``by_token``, else ``addr:`` and the client address.

    Example:
        .. code-block:: python

            caller_key({"headers": [], "client": ("10.0.0.7", 5123)}, by_token=False)
            # "addr:10.0.0.7"
    """
    if not by_token:
        client = scope.get("client")
        return ADDRESS_PREFIX + (str(client[0]) if client else "unknown")
    given = dict(scope["headers"]).get(b"authorization", b"")
    scheme, _, token = given.partition(b" ")
    if scheme.lower() != b"bearer" or not token:
        return ANONYMOUS
    return hashlib.sha256(token).hexdigest()[:32]


class KeyLimitMiddleware:
    """429 with ``Retry-After`` when a key is over its limits; generation routes only.

    Example:
        .. code-block:: python

            app.add_middleware(KeyLimitMiddleware, limits=LocalKeyLimits(10, None),
                               prefixes=("/v1/chat/completions",))
    """

    def __init__(
        self,
        app: ASGIApp,
        limits: KeyLimits,
        prefixes: tuple[str, ...],
        *,
        by_token: bool = True,
    ) -> None:
        self.app = app
        self.limits = limits
        self.prefixes = prefixes
        # Only when API keys are checked is a token a key; else any new token was a new quota.
        self.by_token = by_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        key = caller_key(scope, by_token=self.by_token)
        try:
            denied = await self.limits.acquire(key)
        except Exception as exc:  # the shared store is down: refuse rather than not count
            logger.warning("per-key limits unavailable: %s", type(exc).__name__)
            await send_error(
                send,
                503,
                "The server cannot check request limits right now; retry later",
                "limits_unavailable",
                type="server_error",
                headers={"retry-after": "1"},
            )
            return
        if denied is not None:
            message = denied.message
            if not self.by_token:
                message = message.replace("This API key ", "This client address ", 1)
            await send_error(
                send,
                429,
                message,
                denied.code,
                type="requests",
                headers={"retry-after": str(denied.retry_after)},
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            try:
                await self.limits.release(key)
            except Exception as exc:  # the lease expires by itself
                logger.warning("per-key slot not released: %s", type(exc).__name__)
