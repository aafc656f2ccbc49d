"""`AsyncTextIteratorStreamer`: text from a transformers generation thread to an asyncio consumer.

``generate()`` runs in a worker thread and calls :meth:`~AsyncTextIteratorStreamer.put` with each
new token; the consumer iterates the streamer (``async for`` or plain ``for``) and gets the text as
it is decoded. Unlike transformers' own queue streamers it can be built outside an event loop (it
binds to the consumer's loop when iteration starts), it ends with a real end signal, it hands a
generation error to the consumer, and it can stop the generation (:meth:`cancel` with the criterion
from :meth:`stopping_criteria`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import torch
from transformers import StoppingCriteria, TextStreamer

THREAD_NAME = "langchain-guardrails-hf-generation"
"""Name of the threads started by :meth:`AsyncTextIteratorStreamer.run_in_thread`."""

DECODE_CONTEXT = 5
"""Prompt tokens decoded before the first new token, so it decodes as it would inside the text."""


class _End:
    __slots__ = ()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = _End()
_EMPTY = object()


class AsyncTextIteratorStreamer(TextStreamer):
    """A transformers streamer whose text is consumed with ``async for`` (or ``for``).

    Each ``put`` decodes the new token(s) with the few tokens before them and hands over the new
    text at once (text that ends inside a multi-byte character waits for the next token), so the
    consumer sees tokens as they are produced. One streamer serves one generation: build a new
    one per ``generate()`` call.

    Args:
        tokenizer: the tokenizer that decodes the tokens.
        skip_prompt: do not hand over the prompt (the first ``put``) as text.
        timeout: seconds the consumer waits for the next text before ``TimeoutError``
            (``None``: no limit).
        **decode_kwargs: passed to ``tokenizer.decode``, e.g. ``skip_special_tokens=True``.

    Attributes:
        prompt_tokens: tokens in the prompt (the first ``put``).
        generated_tokens: tokens generated so far.
        last_token_id: the last generated token, if any.

    Example:
        .. code-block:: python

            streamer = AsyncTextIteratorStreamer(
                tokenizer, skip_prompt=True, skip_special_tokens=True
            )
            inputs = tokenizer("The capital of France is", return_tensors="pt")
            streamer.run_in_thread(
                model.generate,
                **inputs,
                streamer=streamer,
                max_new_tokens=20,
                stopping_criteria=StoppingCriteriaList([streamer.stopping_criteria()]),
            )
            async for text in streamer:
                print(text, end="")
    """

    def __init__(
        self,
        tokenizer: Any,
        skip_prompt: bool = False,
        timeout: float | None = None,
        **decode_kwargs: Any,
    ) -> None:
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.timeout = timeout
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self.last_token_id: int | None = None
        self._ids: list[int] = []
        self._prefix_offset = 0  # _ids[_prefix_offset:_read_offset]: context, handed over already
        self._read_offset = 0
        self._cond = threading.Condition()  # guards _items, _waiter, _ended
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exited = False
        self._exit_waiters: list[asyncio.Future[None]] = []

    def clone(self, **overrides: Any) -> AsyncTextIteratorStreamer:
        """A fresh streamer with the same settings, for another generation.

        Example:
            .. code-block:: python

                per_request = template.clone(timeout=30)
        """
        settings: dict[str, Any] = {
            "skip_prompt": self.skip_prompt,
            "timeout": self.timeout,
            **self.decode_kwargs,
            **overrides,
        }
        return AsyncTextIteratorStreamer(self.tokenizer, **settings)

    # -- producer side (the generation thread) -------------------------------------------------

    def put(self, value: Any) -> None:
        """Take the next token ids from ``generate()``: the prompt first, then new tokens."""
        if len(value.shape) > 1:
            if value.shape[0] > 1:
                raise ValueError("AsyncTextIteratorStreamer only supports batch size 1")
            value = value[0]
        ids: list[int] = value.tolist()
        if self._ended:
            raise RuntimeError(
                "this AsyncTextIteratorStreamer has already ended; a streamer serves one "
                "generation, create a new one per generate() call"
            )
        if self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            self.prompt_tokens = len(ids)
            if self.skip_prompt:
                self._ids = ids[-DECODE_CONTEXT:]
                self._prefix_offset = 0
                self._read_offset = len(self._ids)
                return
        else:
            self.generated_tokens += len(ids)
            if ids:
                self.last_token_id = ids[-1]
        if self._stop.is_set():
            return  # nobody reads on: skip the decoding
        self._ids.extend(ids)
        text = self._decode_new()
        if text:
            self._push(text)

    def end(self) -> None:
        """``generate()`` finished: hand over what is left, then the end signal (once)."""
        if self._ended:
            return
        if not self._stop.is_set():
            text = self._decode_new(final=True)
            if text:
                self._push(text)
        self._finish(_END)

    def fail(self, error: BaseException) -> None:
        """The generation raised: the consumer gets ``error`` instead of the next text."""
        self._finish(_Failure(error))

    def _decode_new(self, *, final: bool = False) -> str:
        # The new tokens are decoded after the tokens handed over last (or the end of the
        # prompt), so tokenizers that depend on context (leading spaces) stay exact; text that
        # ends inside a multi-byte character waits for the next token.
        ids, start, read = self._ids, self._prefix_offset, self._read_offset
        tokenizer: Any = self.tokenizer  # its decode() is typed to also return lists
        decode = tokenizer.decode
        before: str = decode(ids[start:read], **self.decode_kwargs) if read > start else ""
        text: str = decode(ids[start:], **self.decode_kwargs)
        if len(text) <= len(before) or (text.endswith("\ufffd") and not final):
            return ""
        self._prefix_offset, self._read_offset = read, len(ids)
        if read > 64:  # drop what no decode needs any more
            del ids[:read]
            self._prefix_offset, self._read_offset = 0, len(ids)
        return text[len(before) :]

    def _push(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _wake(waiter)

    def _finish(self, item: _End | _Failure) -> None:
        with self._cond:
            if self._ended:
                return
            self._ended = True
        self._push(item)

    # -- the generation thread ------------------------------------------------------------------

    def run_in_thread(
        self, target: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> threading.Thread:
        """Run ``target(*args, **kwargs)`` (e.g. ``model.generate`` or a pipeline) in a daemon
        thread that feeds this streamer: an error it raises reaches the consumer, and the end
        signal arrives even if ``target`` returns without generating.

        Example:
            .. code-block:: python

                streamer.run_in_thread(model.generate, **inputs, streamer=streamer)
        """
        if self._thread is not None:
            raise RuntimeError("this AsyncTextIteratorStreamer already runs a generation")
        self._thread = threading.Thread(
            target=self._run, args=(target, args, kwargs), name=THREAD_NAME, daemon=True
        )
        self._thread.start()
        return self._thread

    def _run(self, target: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> None:
        try:
            target(*args, **kwargs)
        except BaseException as exc:
            self.fail(exc)
        finally:
            self.end()
            with self._cond:
                self._exited = True
                waiters, self._exit_waiters = self._exit_waiters, []
            for waiter in waiters:
                _wake(waiter)

    def join(self) -> None:
        """Wait until the thread of :meth:`run_in_thread` has ended (blocking)."""
        if self._thread is not None:
            self._thread.join()

    async def ajoin(self) -> None:
        """Wait until the thread of :meth:`run_in_thread` has ended, without blocking the loop.

        Example:
            .. code-block:: python

                streamer.cancel()
                await streamer.ajoin()
        """
        if self._thread is None:
            return
        with self._cond:
            waiter = None if self._exited else asyncio.get_running_loop().create_future()
            if waiter is not None:
                self._exit_waiters.append(waiter)
        if waiter is not None:
            await waiter
        self._thread.join()  # past its last statement: returns at once

    # -- stopping ---------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask the generation to stop at its next step (see :meth:`stopping_criteria`); the end
        signal still arrives when it has stopped.

        Example:
            .. code-block:: python

                streamer.cancel()
        """
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._stop.is_set()

    def stopping_criteria(self) -> StoppingCriteria:
        """The criterion that stops ``generate()`` once :meth:`cancel` was called; pass it in
        ``stopping_criteria=[...]``.

        Example:
            .. code-block:: python

                criteria = StoppingCriteriaList([streamer.stopping_criteria()])
                streamer.run_in_thread(
                    model.generate, **inputs, streamer=streamer, stopping_criteria=criteria
                )
        """
        return StopOnCancel(self._stop)

    # -- consumer side ----------------------------------------------------------------------------

    def __aiter__(self) -> AsyncTextIteratorStreamer:
        return self

    async def __anext__(self) -> str:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError(
                    "this AsyncTextIteratorStreamer is bound to another event loop; "
                    "iterate it from one loop only"
                )
            self._loop = loop
        while True:
            with self._cond:
                if self._items:
                    item = self._take()
                else:
                    item = _EMPTY
                    waiter = self._waiter = loop.create_future()
            if item is _END:
                raise StopAsyncIteration
            if item is not _EMPTY:
                return self._unwrap(item)
            try:
                if self.timeout is None:
                    await waiter
                else:
                    async with asyncio.timeout(self.timeout):
                        await waiter
            except BaseException as exc:  # cancelled or timed out: nobody waits any more
                with self._cond:
                    if self._waiter is waiter:
                        self._waiter = None
                if isinstance(exc, TimeoutError):
                    raise TimeoutError(self._timeout_message()) from None
                raise

    def __iter__(self) -> AsyncTextIteratorStreamer:
        return self

    def __next__(self) -> str:
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout=self.timeout):
                raise TimeoutError(self._timeout_message())
            item = self._take()
        if item is _END:
            raise StopIteration
        return self._unwrap(item)

    def _take(self) -> Any:
        item = self._items[0]
        if isinstance(item, _Failure):
            self._items[0] = _END  # the error is raised once; later reads see the end
        elif item is not _END:
            self._items.popleft()
        return item

    @staticmethod
    def _unwrap(item: Any) -> str:
        if isinstance(item, _Failure):
            raise item.error
        return item  # type: ignore[no-any-return]

    def _timeout_message(self) -> str:
        return f"no text from the generation within {self.timeout} s (streamer timeout)"


class StopOnCancel(StoppingCriteria):
    """Stops every sequence once ``flag`` is set; checked by ``generate()`` after each step."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        return torch.full(
            (input_ids.shape[0],), self.flag.is_set(), dtype=torch.bool, device=input_ids.device
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> StopOnCancel:
        return self  # a copy must still see the request's flag


def _wake(waiter: asyncio.Future[None]) -> None:
    """Resolve ``waiter`` from any thread."""
    with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
        waiter.get_loop().call_soon_threadsafe(_release, waiter)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
