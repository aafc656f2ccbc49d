"""Sync bridge: run the async core on one long-lived background event loop.

One loop for the whole process (not a new loop per call) because async clients of model
providers bind their connection pools to the loop that first used them.

A sync call returns only after every worker thread it started has finished (see
:func:`track_thread`): a model call that a block cancelled mid-step still runs in its thread,
and its callbacks (the usage of a blocked call) must have run when the caller reads them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_call_threads: ContextVar[set[asyncio.Future[Any]] | None] = ContextVar(
    "langchain_guardrails_call_threads", default=None
)
"""The worker-thread steps of the current sync call (set in the call's own context copy)."""


def track_thread(step: asyncio.Future[Any]) -> None:
    """Make the current sync call (if any) wait for ``step``, a worker-thread future, before it
    returns, even when the task that awaited it was cancelled meanwhile."""
    steps = _call_threads.get()
    if steps is not None:
        steps.add(step)
        step.add_done_callback(steps.discard)


async def _threads_done(steps: set[asyncio.Future[Any]]) -> None:
    while steps:
        await asyncio.wait(list(steps))


def _finish(ctx: contextvars.Context) -> None:
    steps = ctx.get(_call_threads)
    if steps:
        _submit(lambda: _threads_done(steps), ctx).result()


def _call_context() -> contextvars.Context:
    ctx = contextvars.copy_context()
    ctx.run(_call_threads.set, set())
    return ctx


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="langchain-guardrails-loop", daemon=True
            )
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def _submit(
    make: Callable[[], Awaitable[T]], ctx: contextvars.Context
) -> concurrent.futures.Future[T]:
    loop = _background_loop()
    if threading.current_thread() is _thread:
        raise RuntimeError(
            "a sync langchain_guardrails call was made on its own event loop thread "
            "(e.g. from an async callback); use the async API (ainvoke/astream) there"
        )
    result: concurrent.futures.Future[T] = concurrent.futures.Future()

    def start() -> None:
        async def run() -> T:
            return await make()

        task = loop.create_task(run())

        def done(t: asyncio.Task[T]) -> None:
            if t.cancelled():
                result.cancel()
            elif t.exception() is not None:
                result.set_exception(t.exception())
            else:
                result.set_result(t.result())

        task.add_done_callback(done)

    # The caller's context (usage callbacks, tracing) travels with the work.
    loop.call_soon_threadsafe(start, context=ctx)
    return result


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the awaitable built by ``make`` on the background loop and wait for its result."""
    ctx = _call_context()
    try:
        return _submit(make, ctx).result()
    finally:
        _finish(ctx)


def iterate_sync(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Iterate the async iterator built by ``make`` from sync code, one item at a time.

    Items are pulled on demand (no read-ahead), so stopping the sync iteration stops the
    async one, which closes the model stream.
    """
    ctx = _call_context()
    iterator: AsyncIterator[T] | None = None
    stepping: asyncio.Task[Any] | None = None
    done = object()

    async def step() -> Any:
        nonlocal iterator, stepping
        stepping = asyncio.current_task()
        if iterator is None:
            iterator = make()
        try:
            return await iterator.__anext__()
        except StopAsyncIteration:
            return done

    async def close() -> None:
        # Interrupted while a step ran (Ctrl-C in the sync caller): that step still runs the
        # generator, which cannot be closed before it stops.
        if stepping is not None and not stepping.done():
            stepping.cancel()
            await asyncio.wait((stepping,))
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    finished = False
    try:
        while True:
            item = _submit(step, ctx).result()
            if item is done:
                finished = True
                return
            yield item
    finally:
        try:
            if not finished and iterator is not None:
                _submit(close, ctx).result()
        finally:
            _finish(ctx)
