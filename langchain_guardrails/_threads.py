"""Sync model APIs driven from the async core, one worker-thread step at a time.

Sync calls (``invoke``, ``stream``, ``check``) run the async core on a background event loop.
If models were called through their *async* API there, their async HTTP clients would bind
connection pools to that loop, and the caller's own ``ainvoke`` on its loop would later fail
with "bound to a different event loop". So on sync calls every model, the main one and the
ones rails use, is called through its sync API, in worker threads.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor
from typing_extensions import override


async def stream_in_threads(
    llm: Runnable[Any, Any], input: Any, config: RunnableConfig | None, kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    """``llm.stream(...)`` as an async iterator; closing it closes the sync stream."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    done = object()
    iterator: Iterator[Any] = await loop.run_in_executor(
        None, lambda: context.run(lambda: iter(llm.stream(input, config, **kwargs)))
    )
    try:
        while True:
            chunk = await loop.run_in_executor(None, lambda: context.run(next, iterator, done))
            if chunk is done:
                return
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await loop.run_in_executor(None, lambda: context.run(close))


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
        return await run_in_executor(config, self.bound.invoke, input, config, **kwargs)

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
