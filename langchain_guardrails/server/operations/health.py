"""``GET /health``: is this server able to serve guarded requests right now?

The answer is ``200 {"status": "ok"}`` or ``503 {"status": "degraded", "reasons": [...]}``.
503 is what load balancers and Kubernetes readiness probes act on (they read the status code,
not the body): a degraded instance would answer its requests with rail timeouts or 503s, so it
should get no new traffic until it recovers. Each check is re-evaluated on every call, so the
status goes back to ``ok`` by itself once the cause is gone. Reasons:

* ``sync_rail_pool_exhausted``: every thread of the sync-rail pool is busy and rails wait for
  one, or a thread still runs a rail that already timed out (a hung rail): sync rails of every
  config time out until a thread comes back (see :mod:`~langchain_guardrails.rails.executor`).
* ``redis_unavailable``: the per-key limits are kept in Redis and Redis does not answer a
  ``PING`` in time: generation requests get 503 ``limits_unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langchain_guardrails.rails.executor import rail_executor_status

logger = logging.getLogger("langchain_guardrails.server")

REDIS_PING_TIMEOUT = 1.0
"""Seconds ``/health`` waits for Redis (probes must answer quickly even when it hangs)."""


async def health_report(limits: Any | None = None) -> tuple[int, dict[str, Any]]:
    """The status code and body of ``GET /health``.

    Args:
        limits: the server's per-key limits; checked when they live in a shared store (they
            have a ``ping`` method).

    Example:
        .. code-block:: python

            status, body = await health_report()  # (200, {"status": "ok"})
    """
    reasons: list[str] = []
    body: dict[str, Any] = {}
    rails = rail_executor_status()
    if rails["stuck"]:
        reasons.append("sync_rail_pool_exhausted")
        body["rail_executor"] = rails
    ping = getattr(limits, "ping", None)
    if ping is not None:
        try:
            await asyncio.wait_for(ping(), REDIS_PING_TIMEOUT)
        except Exception as exc:  # down, refusing, timing out: all mean requests get 503
            # The exception type only: a connection error may quote the URL (and its password).
            logger.warning("health: redis unavailable (%s)", type(exc).__name__)
            reasons.append("redis_unavailable")
    if reasons:
        return 503, {"status": "degraded", "reasons": reasons, **body}
    return 200, {"status": "ok"}


__all__ = ["REDIS_PING_TIMEOUT", "health_report"]
