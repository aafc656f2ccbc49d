"""Ctrl-C in a sync caller while a step of the async core runs: the core is cancelled, then
closed (not "aclose(): asynchronous generator is already running"), and stops producing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from langchain_guardrails.llm import sync_bridge as _bridge


def test_interrupt_during_a_step_cancels_then_closes_the_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = threading.Event()
    closed = threading.Event()
    produced: list[int] = []

    async def slow() -> AsyncIterator[int]:
        try:
            for i in range(100):
                if i == 1:
                    started.set()
                    await asyncio.sleep(30)  # a model step in flight when Ctrl-C comes
                produced.append(i)
                yield i
        finally:
            closed.set()

    submit = _bridge._submit
    calls = 0

    class Interrupted:
        """The sync caller's wait on step 2, interrupted by Ctrl-C once the step runs."""

        def __init__(self, future: Any) -> None:
            self.future = future

        def result(self) -> Any:
            assert started.wait(5)
            raise KeyboardInterrupt

    def interrupting_submit(make: Callable[[], Awaitable[Any]], ctx: Any) -> Any:
        nonlocal calls
        calls += 1
        future = submit(make, ctx)
        return Interrupted(future) if calls == 2 else future

    monkeypatch.setattr(_bridge, "_submit", interrupting_submit)
    items = _bridge.iterate_sync(slow)
    assert next(items) == 0
    with pytest.raises(KeyboardInterrupt) as error:
        next(items)
    assert error.value.__context__ is None  # no RuntimeError from closing a running generator
    assert closed.wait(5)
    assert produced == [0]
