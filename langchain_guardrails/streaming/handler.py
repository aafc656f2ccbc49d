"""``StreamingHandler``: NeMo Guardrails' streaming handler, an async iterator of text chunks.

Give it to ``LLMRails.generate_async(..., streaming_handler=handler)`` and iterate it while the
call runs: it receives the chunks the rails *released* (never raw model tokens), ends when the
call ends, and on a block its last chunk is the NeMo error object (JSON). It can also be used as
a LangChain callback handler on a model call (``config={"callbacks": [handler]}``): it then
streams that call's tokens and ends with it.

It never hangs: it ends on completion, on a block, and on errors (iteration then raises the
error, after the chunks received before it).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, GenerationChunk, LLMResult

_END = object()


class StreamingHandler(AsyncCallbackHandler, AsyncIterator[str]):
    """An async iterator of text chunks, fed by a guarded call or by a model's callbacks.

    Chunks may be pushed from any thread or event loop; the consumer iterates on its own loop.

    Example:
        .. code-block:: python

            handler = StreamingHandler()
            task = asyncio.create_task(
                rails.generate_async(messages=history, streaming_handler=handler)
            )
            async for chunk in handler:
                print(chunk, end="")
            result = await task  # the full response
    """

    def __init__(self, enable_print: bool = False) -> None:
        """Args:
        enable_print: also print each chunk as it arrives.
        """
        self.enable_print = enable_print
        self.completion = ""
        """Everything pushed so far (the full text once the stream ended)."""
        self.error: BaseException | None = None
        """The error the stream ended with, if any."""
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._owner: UUID | None = None

    # -- producer side -----------------------------------------------------------------------

    async def push_chunk(self, chunk: str | AIMessageChunk | GenerationChunk | None) -> None:
        """Add a chunk (``None`` or ``""`` ends the stream, as in NeMo Guardrails).

        Example:
            .. code-block:: python

                await handler.push_chunk("Hello")
        """
        if chunk is None or chunk == "":
            self.finish()
            return
        if isinstance(chunk, GenerationChunk | AIMessageChunk):
            text = chunk.text
        elif isinstance(chunk, str):
            text = chunk
        else:
            raise TypeError(
                f"StreamingHandler.push_chunk got {type(chunk).__name__}; expected str, "
                "AIMessageChunk or GenerationChunk"
            )
        if text:
            self._put(text)

    def finish(self, error: BaseException | None = None) -> None:
        """End the stream (with ``error``, which iteration then raises). Idempotent.

        Example:
            .. code-block:: python

                handler.finish()
        """
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self.error = error
        self._put(_END)

    def _put(self, item: Any) -> None:
        with self._lock:
            if item is not _END and self._finished:
                return
            if item is not _END:
                self.completion += item
                if self.enable_print:
                    print(item, end="", flush=True)
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _wake(waiter)

    # -- consumer side -----------------------------------------------------------------------

    def __aiter__(self) -> StreamingHandler:
        return self

    async def __anext__(self) -> str:
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    if item is _END:
                        self._items.appendleft(_END)  # later calls end too
                        if self.error is not None:
                            raise self.error
                        raise StopAsyncIteration
                    return str(item)
                waiter = asyncio.get_running_loop().create_future()
                self._waiter = waiter
            await waiter

    async def wait(self) -> str:
        """Wait for the end of the stream; the full text (raises the stream's error).

        Example:
            .. code-block:: python

                text = await handler.wait()
        """
        async for _ in self:
            pass
        return self.completion

    # -- LangChain callback side: the first LLM run seen owns the handler ----------------------

    def _owns(self, run_id: UUID) -> bool:
        if self._owner is None:
            self._owner = run_id
        return self._owner == run_id

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        """Claim the stream for this call (if no other call has)."""
        self._owns(run_id)

    async def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Claim the stream for this call (if no other call has)."""
        self._owns(run_id)

    async def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        chunk: GenerationChunk | ChatGenerationChunk | None = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Stream the owning call's tokens."""
        if self._owns(run_id):
            await self.push_chunk(token if isinstance(token, str) else str(token))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """End with the owning call."""
        if self._owns(run_id):
            self.finish()

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End with the owning call's error."""
        if self._owns(run_id):
            self.finish(error)


def _wake(waiter: asyncio.Future[None]) -> None:
    loop = waiter.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _resolve(waiter)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


__all__ = ["StreamingHandler"]
