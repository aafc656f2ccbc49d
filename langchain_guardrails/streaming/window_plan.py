"""What a stream's windows look like (:class:`WindowPlan`), who may watch them
(:class:`WindowObserver`), and how a window's check is started (:data:`Schedule`).

Re-exported by :mod:`langchain_guardrails.streaming.windows`, which runs them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_guardrails.config.rails_config import OutputStreaming
from langchain_guardrails.engine.rail_engine import Decision
from langchain_guardrails.streaming.window_channel import ANSWER

Schedule = Callable[[str, int], "asyncio.Future[Decision]"]
"""Starts the check of one window ``(text, index)`` and returns its future decision."""


class WindowObserver(Protocol):
    """Optional per-window hooks of a :class:`WindowStream` (set only when someone listens).

    Units are counted from 0 in stream order, per channel (``"answer"``, ``"reasoning"``);
    ranges are half-open. Nothing here is called
    per unit except what :meth:`timed` does inside its own wrapper.
    """

    def timed(self, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Wrap the model stream (e.g. to time each unit's arrival)."""
        ...

    async def window_started(
        self, index: int, first_unit: int, end_unit: int, final: bool, channel: str = ANSWER
    ) -> None:
        """Window ``index`` of ``channel`` (its units ``[first_unit, end_unit)``, context
        included) is checked."""

    async def window_checked(
        self, index: int, decision: Decision, started: float, ended: float
    ) -> None:
        """Window ``index`` was checked from ``started`` to ``ended`` (``perf_counter``)."""

    async def released(self, end_unit: int, window: int | None, channel: str = ANSWER) -> None:
        """Hold-back: every unit of ``channel`` before ``end_unit`` has now been released."""

    async def ended(self, units: int, windows: int, blocked: bool) -> None:
        """The stream is over (finished, blocked, or stopped by the consumer)."""


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Window sizes and release mode of one config."""

    chunk_size: int
    context_size: int
    stream_first: bool
    concurrent_final: bool = True
    """The last window may be checked while the one before it still runs (no rewriting rails)."""
    reasoning: bool = False
    """Reasoning is checked in its own windows (``rails.output.reasoning: check``)."""
    first_chunk_size: int = 0
    """New units of window 1; each later window doubles it up to ``chunk_size`` (0: the same
    as ``chunk_size``)."""

    def sizes(self) -> Iterator[int]:
        """New units of windows 1, 2, ... (the last window may hold fewer).

        Example:
            .. code-block:: python

                plan = WindowPlan(200, 50, stream_first=False, first_chunk_size=10)
                list(itertools.islice(plan.sizes(), 6))  # [10, 20, 40, 80, 160, 200]
        """
        size = self.first_chunk_size or self.chunk_size
        while True:
            yield size
            size = min(size * 2, self.chunk_size)

    @classmethod
    def from_config(
        cls, streaming: OutputStreaming, *, rewrites: bool, reasoning: bool = False
    ) -> WindowPlan:
        """Windows as configured, or one hold-back window over the whole response when
        streaming output rails are disabled (nothing is released before it passed)."""
        if not streaming.enabled:
            return cls(
                sys.maxsize,
                0,
                stream_first=False,
                concurrent_final=not rewrites,
                reasoning=reasoning,
            )
        return cls(
            streaming.chunk_size,
            streaming.context_size,
            streaming.stream_first,
            concurrent_final=not rewrites,
            reasoning=reasoning,
            first_chunk_size=streaming.first_chunk_size or streaming.chunk_size,
        )


__all__ = ["Schedule", "WindowObserver", "WindowPlan"]
