"""The package's own bounded thread pool for sync rails.

Sync rails used to run in asyncio's shared default executor. A rail that hangs past its
timeout keeps its thread (threads cannot be killed), so a few hung rails starved everything
else that used that executor: other configs' rails, config loading, DNS lookups. Sync rails
now run here, in a pool of ``LANGCHAIN_GUARDRAILS_RAIL_THREADS`` threads (default 32), and
:func:`rail_executor_status` tells a health check when the pool is stuck: every thread is busy
and rails wait for one, or a thread still runs a rail whose caller gave up on it (timed out).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

RAIL_THREADS_ENV = "LANGCHAIN_GUARDRAILS_RAIL_THREADS"
DEFAULT_RAIL_THREADS = 32

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_size = 0
_running: dict[int, float] = {}
"""Start times of the rail calls running now, by job number."""
_abandoned: set[int] = set()
"""Jobs still running in a thread after their caller stopped waiting (timed out, cancelled)."""
_queued = 0
_jobs = 0


def configure_rail_executor(threads: int) -> None:
    """Size the sync-rail pool (takes effect for rails started afterwards).

    Example:
        .. code-block:: python

            configure_rail_executor(64)
    """
    global _pool, _size
    if threads < 1:
        raise ValueError(f"rail threads must be >= 1 (got {threads})")
    with _lock:
        old, _pool, _size = _pool, ThreadPoolExecutor(threads, "guardrails-rail"), threads
    if old is not None:
        old.shutdown(wait=False)  # hung threads cannot be stopped; they just end unreferenced


def _executor() -> ThreadPoolExecutor:
    global _pool, _size
    with _lock:
        if _pool is None:
            raw = os.environ.get(RAIL_THREADS_ENV, "")
            _size = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_RAIL_THREADS
            _pool = ThreadPoolExecutor(_size, "guardrails-rail")
        return _pool


async def run_sync_rail(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a sync rail in the pool, with the caller's context (callbacks, tracing).

    Example:
        .. code-block:: python

            result = await asyncio.wait_for(run_sync_rail(check, text="hi"), 5)
    """
    global _queued, _jobs
    context = contextvars.copy_context()
    with _lock:
        _jobs += 1
        job = _jobs
        _queued += 1

    def tracked() -> T:
        global _queued
        with _lock:
            _queued -= 1
            _running[job] = time.monotonic()
        try:
            return context.run(functools.partial(fn, **kwargs))
        finally:
            with _lock:
                _running.pop(job, None)
            _abandoned.discard(job)

    future = _executor().submit(tracked)
    try:
        return await asyncio.wrap_future(future)
    finally:
        # Cancelled (timed out) before a thread took it: it never runs, so count it out here.
        if future.cancelled():
            with _lock:
                _queued -= 1
        elif not future.done():
            with _lock:
                if job in _running:
                    # Its thread stays taken until the rail returns, maybe never (hung).
                    _abandoned.add(job)


def rail_executor_status() -> dict[str, Any]:
    """``{"threads", "busy", "abandoned", "queued", "oldest_seconds", "stuck"}`` of the
    sync-rail pool. ``stuck`` when every thread is busy and either rails wait for one or a
    thread still runs a rail its caller gave up on (``abandoned``: timed out): new sync rails
    would then wait, and time out, until that thread comes back.

    Example:
        .. code-block:: python

            rail_executor_status()["stuck"]  # False
    """
    _executor()
    now = time.monotonic()
    with _lock:
        busy = len(_running)
        oldest = max((now - t for t in _running.values()), default=0.0)
        return {
            "threads": _size,
            "busy": busy,
            "abandoned": len(_abandoned),
            "queued": _queued,
            "oldest_seconds": round(oldest, 3),
            "stuck": busy >= _size and (_queued > 0 or bool(_abandoned)),
        }
