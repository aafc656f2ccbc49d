"""Sync model APIs driven from the async core, one worker-thread step at a time.

Sync calls (``invoke``, ``stream``, ``check``) run the async core on a background event loop.
If models were called through their *async* API there, their async HTTP clients would bind
connection pools to that loop, and the caller's own ``ainvoke`` on its loop would later fail
with "bound to a different event loop". So on sync calls every model, the main one and the
ones rails use, is called through its sync API, in worker threads.

A thread cannot be cancelled: when a block cancels a model step, the step runs on in its
thread. Each step is therefore tracked
(:func:`~langchain_guardrails.llm.sync_bridge.track_thread`), so the sync call returns only after
it finished, and a sync stream is closed only after its step in flight returned (closing a
generator that is executing fails, and it would then be closed, its usage reported, whenever it is
collected).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig
from typing_extensions import override

from langchain_guardrails.llm.sync_bridge import track_thread

T = TypeVar("T")


async def in_thread(context: contextvars.Context, fn: Callable[[], T]) -> T:
    """``fn()`` in a worker thread, in ``context``; the thread is tracked for the sync call."""
    step = asyncio.get_running_loop().run_in_executor(None, context.run, fn)
    _track(step)
    # Shielded: cancelling the caller must not mark the step done while its thread runs.
    return await asyncio.shield(step)


def _track(step: asyncio.Future[Any]) -> None:
    track_thread(step)
    # A step whose awaiting task was cancelled has no reader left: its error is not lost
    # work (the call already ended), so it must not be reported as "never retrieved".
    step.add_done_callback(_retrieved)


def _retrieved(step: asyncio.Future[Any]) -> None:
    if not step.cancelled():
        step.exception()


async def _settled(step: asyncio.Future[Any]) -> None:
    """Wait until ``step`` is done, through any cancellation; re-raise that afterwards."""
    cancelled = False
    while not step.done():
        try:
            await asyncio.wait((step,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def stream_in_threads(
    llm: Runnable[Any, Any], input: Any, config: RunnableConfig | None, kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    """``llm.stream(...)`` as an async iterator; closing it closes the sync stream."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    done = object()
    iterator: Iterator[Any] = await in_thread(
        context, lambda: iter(llm.stream(input, config, **kwargs))
    )
    step: asyncio.Future[Any] | None = None
    try:
        while True:
            step = loop.run_in_executor(None, lambda: context.run(next, iterator, done))
            _track(step)
            chunk = await asyncio.shield(step)
            if chunk is done:
                return
            yield chunk
    finally:
        if step is not None and not step.done():
            await _settled(step)  # cancelled mid-step: the generator is still executing
        close = getattr(iterator, "close", None)
        if close is not None:
            await in_thread(context, close)


class SyncBacked(Runnable[Any, Any]):
    """A model whose async API runs its sync API in worker threads (given to rails on sync
    calls, so their LLM calls never touch an async client from the background loop)."""

    def __init__(self, bound: Runnable[Any, Any]) -> None:
        self.bound = bound

    @property
    @override
    def InputType(self) -> Any:
        return self.bound.InputType

    @property
    @override
    def OutputType(self) -> Any:
        return self.bound.OutputType

    @override
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.bound.invoke(input, config, **kwargs)

    @override
    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        context = contextvars.copy_context()
        return await in_thread(context, lambda: self.bound.invoke(input, config, **kwargs))

    @override
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        return self.bound.stream(input, config, **kwargs)

    @override
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in stream_in_threads(self.bound, input, config, kwargs):
            yield chunk

    def __getattr__(self, name: str) -> Any:
        # Model-specific helpers (e.g. with_structured_output) come from the wrapped model.
        return getattr(self.bound, name)
