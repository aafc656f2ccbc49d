"""The stream and window events of one guarded stream (names and payloads: see
:mod:`langchain_guardrails.observability.events`), emitted only when someone listens."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManager

from langchain_guardrails.engine.rail_engine import Decision
from langchain_guardrails.observability.events import (
    STREAM_ENDED,
    STREAM_STARTED,
    WINDOW_CHECKED,
    WINDOW_RELEASED,
    WINDOW_STARTED,
)
from langchain_guardrails.streaming.chunks import channel_texts
from langchain_guardrails.streaming.window_plan import WindowPlan


class StreamEvents:
    """Window observer of one guarded stream (see ``windows.WindowObserver``).

    Built only when someone listens. It times each unit's arrival (one wrapper around the
    model stream) and reports windows and releases; memory stays bounded by one window.
    """

    def __init__(self, manager: AsyncCallbackManager, run_id: UUID, plan: WindowPlan) -> None:
        self.manager = manager
        self.run_id = run_id
        self.plan = plan
        self.arrivals: dict[str, list[float]] = {"answer": [], "reasoning": []}
        """Per channel: arrival times of units ``[base, base + len(arrivals))`` not yet
        reported."""
        self.base: dict[str, int] = {"answer": 0, "reasoning": 0}
        self.released_to: dict[str, int] = {"answer": 0, "reasoning": 0}
        self._held: list[tuple[str, dict[str, Any]]] | None = None
        self._silent = False

    def hold(self) -> None:
        """Speculative generation: keep events until the input decision (see
        :mod:`langchain_guardrails.streaming.speculative`)."""
        self._held = []

    async def flush(self) -> None:
        """The input passed: send the held events, then send as they come."""
        held, self._held = self._held or [], None
        for name, data in held:
            await self.manager.on_custom_event(name, data, run_id=self.run_id)

    def discard(self) -> None:
        """The input was blocked: this stream never was, for observers."""
        self._held, self._silent = None, True

    async def _emit(self, name: str, data: dict[str, Any]) -> None:
        if self._silent:
            return
        if self._held is not None:
            self._held.append((name, data))
            return
        await self.manager.on_custom_event(name, data, run_id=self.run_id)

    async def timed(self, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """``source`` with each unit's arrival time recorded."""
        plan = self.plan
        reasoning = plan.reasoning
        whole = plan.chunk_size == sys.maxsize  # streaming output rails off: one window
        await self._emit(
            STREAM_STARTED,
            {
                "t": time.perf_counter(),
                "chunk_size": None if whole else plan.chunk_size,
                "context_size": plan.context_size,
                "first_chunk_size": None if whole else plan.first_chunk_size or plan.chunk_size,
                "stream_first": plan.stream_first,
            },
        )
        answer, thinking = self.arrivals["answer"], self.arrivals["reasoning"]
        clock = time.perf_counter
        async with aclosing(source) as stream:  # type: ignore[type-var]
            async for chunk in stream:
                text, thought = channel_texts(chunk, reasoning)
                if text:
                    answer.append(clock())
                if thought:
                    thinking.append(clock())
                yield chunk

    def _take(self, channel: str, end_unit: int) -> list[float]:
        """Arrival times of ``channel``'s units ``[base, end_unit)``, forgotten once taken."""
        count = end_unit - self.base[channel]
        arrivals = self.arrivals[channel]
        taken = arrivals[:count]
        del arrivals[:count]
        self.base[channel] = end_unit
        return taken

    async def window_started(
        self, index: int, first_unit: int, end_unit: int, final: bool, channel: str = "answer"
    ) -> None:
        new_first, now = self.base[channel], time.perf_counter()
        arrivals = self._take(channel, end_unit)
        await self._emit(
            WINDOW_STARTED,
            {
                "window": index,
                "channel": channel,
                "first_unit": first_unit,
                "new_first_unit": new_first,
                "end_unit": end_unit,
                "final": final,
                "t": now,
                "arrivals": arrivals,
            },
        )
        if self.plan.stream_first:
            # These units were released as they arrived.
            await self._released(
                channel, new_first, end_unit, index, arrivals[-1] if arrivals else now, arrivals
            )

    async def window_checked(
        self, index: int, decision: Decision, started: float, ended: float
    ) -> None:
        if not decision.allowed:
            verdict = "blocked"
        else:
            verdict = "passed" if decision.text is None else "modified"
        data: dict[str, Any] = {
            "window": index,
            "decision": verdict,
            "started_at": started,
            "ended_at": ended,
            "duration": ended - started,
        }
        if not decision.allowed:
            data["rail"] = decision.rail
        await self._emit(WINDOW_CHECKED, data)

    async def released(self, end_unit: int, window: int | None, channel: str = "answer") -> None:
        if end_unit > self.released_to[channel]:
            first = self.released_to[channel]
            await self._released(channel, first, end_unit, window, time.perf_counter(), None)

    async def _released(
        self,
        channel: str,
        first: int,
        end: int,
        window: int | None,
        t: float,
        times: list[float] | None,
    ) -> None:
        self.released_to[channel] = end
        data: dict[str, Any] = {
            "window": window,
            "channel": channel,
            "first_unit": first,
            "end_unit": end,
            "t": t,
        }
        if times is not None:
            data["times"] = times
        await self._emit(WINDOW_RELEASED, data)

    async def ended(self, units: int, windows: int, blocked: bool) -> None:
        left: dict[str, tuple[int, list[float]]] = {}
        for channel, arrivals in self.arrivals.items():
            first = self.base[channel]
            taken = self._take(channel, first + len(arrivals))
            left[channel] = (first, taken)
            if self.plan.stream_first and taken:
                await self._released(channel, first, first + len(taken), None, taken[-1], taken)
        first, arrivals = left["answer"]
        data = {
            "units": units,
            "windows": windows,
            "blocked": blocked,
            "t": time.perf_counter(),
            "first_unit": first,
            "arrivals": arrivals,
            "reasoning_first_unit": left["reasoning"][0],
            "reasoning_arrivals": left["reasoning"][1],
        }
        await self._emit(STREAM_ENDED, data)


__all__ = ["StreamEvents"]
