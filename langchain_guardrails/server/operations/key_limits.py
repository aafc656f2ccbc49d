"""Limits per API key: concurrent generations and requests per minute, in one process or Redis.

With API keys configured, a key is the caller's bearer token or x-api-key (only its hash is kept;
the API key check has already accepted it). Without API keys any token would be accepted, so a
client could dodge its limits by changing tokens: the limits then count by client address
(``scope["client"]``; behind a proxy run uvicorn with ``--proxy-headers`` so this is the real
client, not the proxy). Without
Redis the counts live in the process: with ``--workers N`` each worker counts on its own, so a
key may have up to N times its limit. With ``redis_url`` every process (and machine) shares
the counts. Each concurrency slot in Redis is a lease of its own (a member of a sorted set per
key, scored by its expiry): the holder renews it while its request runs, expired leases are
dropped on every acquire, so the slots of a killed worker come back within ``lease_seconds``,
also while the key is in use. A slot is released even when its request is cancelled.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from langchain_guardrails.server.operations.auth import presented_key, send_error

logger = logging.getLogger("langchain_guardrails.server")

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Denied:
    """Why a request was refused, and when to retry."""

    message: str
    code: str
    retry_after: int


@dataclass(frozen=True, slots=True, eq=False)  # each slot is its own, even of one key
class Slot:
    """A concurrency slot taken by :meth:`KeyLimits.acquire` (``lease`` names it in Redis)."""

    key: str
    lease: str = ""


class KeyLimits(Protocol):
    """Where the counts of each key live."""

    renew_every: float | None
    """Seconds between renewals of a held slot's lease (``None``: slots do not expire)."""

    async def acquire(self, key: str) -> Denied | Slot:
        """Take a slot (and count a request) for ``key``, or say why not (messages name an
        "API key"; :class:`KeyLimitMiddleware` renames it for address keys)."""
        ...

    async def renew(self, slot: Slot) -> None:
        """Extend the lease of a held slot (its request is still running)."""
        ...

    async def release(self, slot: Slot) -> None:
        """Give back a slot taken by :meth:`acquire`."""
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

    renew_every: float | None = None

    def __init__(self, max_concurrency: int | None, requests_per_minute: int | None) -> None:
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self._active: defaultdict[str, int] = defaultdict(int)
        self._window: tuple[int, defaultdict[str, int]] = (0, defaultdict(int))

    async def acquire(self, key: str) -> Denied | Slot:
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
        return Slot(key)

    async def renew(self, slot: Slot) -> None:
        """Nothing to renew: slots in this process die with it."""

    async def release(self, slot: Slot) -> None:
        self._active[slot.key] -= 1
        if self._active[slot.key] <= 0:
            del self._active[slot.key]


# Times come from Redis (TIME), so the workers' and machines' clocks never disagree on a lease.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# KEYS: the key's leases (sorted set, score = expiry in ms), its requests this minute.
# ARGV: concurrency limit, requests per minute, lease ms, the new lease's id.
_ACQUIRE = (
    _NOW_MS
    + """
local conc_limit = tonumber(ARGV[1])
local rpm_limit = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[3])
if conc_limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= conc_limit then return {1, 1} end
end
if rpm_limit > 0 then
  local used = redis.call('INCR', KEYS[2])
  if used == 1 then redis.call('EXPIRE', KEYS[2], 61) end
  if used > rpm_limit then return {2, redis.call('TTL', KEYS[2])} end
end
if conc_limit > 0 then
  redis.call('ZADD', KEYS[1], now + lease_ms, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], lease_ms)
end
return {0, 0}
"""
)
# XX: a lease already released (or lost with a restarted Redis) is never brought back.
_RENEW = (
    _NOW_MS
    + """
local lease_ms = tonumber(ARGV[2])
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease_ms, ARGV[1])
if renewed == 1 then redis.call('PEXPIRE', KEYS[1], lease_ms) end
return renewed
"""
)


class RedisKeyLimits:
    """Counts in Redis, shared by every worker and machine (``redis`` client, ``serve`` extra).

    Each slot is a lease of ``lease_seconds``, renewed every third of it while its request runs.

    Example:
        .. code-block:: python

            limits = RedisKeyLimits("redis://127.0.0.1:6379/0", max_concurrency=10,
                                    requests_per_minute=None, lease_seconds=30)
    """

    def __init__(
        self,
        url: str,
        max_concurrency: int | None,
        requests_per_minute: int | None,
        *,
        lease_seconds: float = 30.0,
        prefix: str = "langchain-guardrails",
    ) -> None:
        from langchain_guardrails.errors import require

        if not lease_seconds >= 0.3:
            raise ValueError(f"lease_seconds must be >= 0.3 (got {lease_seconds})")
        self._redis = require("redis.asyncio", "serve")
        self.url = url
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.lease_seconds = lease_seconds
        self.renew_every: float | None = lease_seconds / 3 if max_concurrency else None
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

    def _leases(self, key: str) -> str:
        return f"{self.prefix}:slots:{key}"

    async def acquire(self, key: str) -> Denied | Slot:
        client = self._connection()
        minute = int(time.time() // 60)
        keys = [self._leases(key), f"{self.prefix}:rpm:{key}:{minute}"]
        lease = uuid.uuid4().hex
        lease_ms = int(self.lease_seconds * 1000)
        args = [self.max_concurrency or 0, self.requests_per_minute or 0, lease_ms, lease]
        verdict, wait = await client.eval(_ACQUIRE, 2, *keys, *args)
        if verdict == 1:
            return _denied_concurrency(self.max_concurrency or 0)
        if verdict == 2:
            return _denied_rate(self.requests_per_minute or 0, int(wait))
        return Slot(key, lease)

    async def renew(self, slot: Slot) -> None:
        if self.max_concurrency:
            lease_ms = int(self.lease_seconds * 1000)
            await self._connection().eval(_RENEW, 1, self._leases(slot.key), slot.lease, lease_ms)

    async def release(self, slot: Slot) -> None:
        if self.max_concurrency:
            await self._connection().zrem(self._leases(slot.key), slot.lease)

    async def ping(self) -> None:
        """Return when Redis answers a ``PING`` (``/health``); raise when it does not."""
        await self._connection().ping()


_RELEASES: set[asyncio.Task[None]] = set()
"""Releases under way (a strong reference, so a cancelled request's release is not dropped)."""
_HELD: set[Slot] = set()
"""Slots taken and not yet given back, in this process."""


async def settle_releases(seconds: float = 2.0) -> None:
    """Wait (up to ``seconds``) until every slot of this process is given back, e.g. at
    shutdown: requests the server cancelled are still unwinding towards their release, and
    the event loop, once closed, would cancel them again before they get there.

    Example:
        .. code-block:: python

            await settle_releases()  # in the app's lifespan shutdown
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (_HELD or _RELEASES) and loop.time() < deadline:  # noqa: ASYNC110 (a poll, bounded)
        await asyncio.sleep(0.02)


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
    token = presented_key(dict(scope["headers"]))
    if token is None:
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
            taken = await self.limits.acquire(key)
        except Exception as exc:  # the shared store is down: refuse rather than not count
            logger.warning("per-key limits unavailable: %s", type(exc).__name__)
            await send_error(
                send,
                503,
                "The server cannot check request limits right now; retry later",
                "limits_unavailable",
                type="server_error",
                headers={"retry-after": "1"},
                path=scope["path"],
            )
            return
        if isinstance(taken, Denied):
            message = taken.message
            if not self.by_token:
                message = message.replace("This API key ", "This client address ", 1)
            await send_error(
                send,
                429,
                message,
                taken.code,
                type="requests",
                headers={"retry-after": str(taken.retry_after)},
                path=scope["path"],
            )
            return
        _HELD.add(taken)
        every = self.limits.renew_every
        renewer = asyncio.ensure_future(self._renew(taken, every)) if every else None
        try:
            await self.app(scope, receive, send)
        finally:
            if renewer is not None:
                renewer.cancel()
            # A task of its own, shielded: a cancelled request (shutdown) still gives back its
            # slot; settle_releases() lets the last ones finish before the loop closes.
            release = asyncio.ensure_future(self._release(taken))
            _RELEASES.add(release)
            release.add_done_callback(_RELEASES.discard)
            await asyncio.shield(release)

    async def _renew(self, slot: Slot, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.limits.renew(slot)
            except Exception as exc:  # Redis away for a moment: the next renewal retries
                logger.warning("per-key slot not renewed: %s", type(exc).__name__)

    async def _release(self, slot: Slot) -> None:
        try:
            await self.limits.release(slot)
        except Exception as exc:  # the lease expires by itself
            logger.warning("per-key slot not released: %s", type(exc).__name__)
        finally:
            _HELD.discard(slot)
