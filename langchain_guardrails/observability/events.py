"""The guardrails custom events: names, payloads, and the rail runs' emitter.

When a guarded call has callback handlers (``callbacks=[...]``, ``astream_events``, LangSmith,
``get_usage_metadata_callback``), it dispatches LangChain *custom events* on the guarded run, so
they show up as ``on_custom_event`` in ``astream_events(version="v2")`` and reach every
handler's ``on_custom_event``. With no handler, none of this code runs.

Payloads hold names, indices, timings, decisions and counts, never text. Times are
``time.perf_counter()`` seconds (one clock for the whole process); units are counted from 0 in
stream order per channel (``channel``: ``"answer"`` or ``"reasoning"``, each windowed on its
own), ranges are half-open ``[first_unit, end_unit)``.

======================================  ======================================================
event name                              payload
======================================  ======================================================
``guardrails.rail.started``             rail, stage, window, started_at
``guardrails.rail.passed``              ... + ended_at, duration, decision (passed|modified), stop
``guardrails.rail.blocked``             ... + decision "blocked", kind, stop
``guardrails.rail.error``               ... + decision "error", stop: the rail raised or timed out
``guardrails.rail.cancelled``           ... + decision "cancelled" (another rail decided first)
``guardrails.stream.started``           t, chunk_size, context_size, first_chunk_size,
                                        stream_first
``guardrails.window.started``           window, channel, first_unit, new_first_unit, end_unit,
                                        final, t, arrivals (arrival time of each new unit)
``guardrails.window.checked``           window, decision, rail (when blocked), started_at,
                                        ended_at, duration
``guardrails.window.released``          window, channel, first_unit, end_unit, t, times (per-unit
                                        release times, ``stream_first`` only)
``guardrails.stream.ended``             units, windows, blocked, t, first_unit, arrivals (answer
                                        units no window covered), reasoning_first_unit,
                                        reasoning_arrivals
======================================  ======================================================

``window`` is None for input rails. Events of rails cancelled because a stream ended may
arrive after the guarded run ended.

The stream and window events are emitted by
:class:`~langchain_guardrails.streaming.window_events.StreamEvents`.
"""

from __future__ import annotations

import time
from typing import Any, Protocol
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManager


class Verdict(Protocol):
    """What a rail event reports of a decision (``engine.Decision`` has it)."""

    @property
    def allowed(self) -> bool: ...
    @property
    def text(self) -> str | None: ...
    @property
    def kind(self) -> str: ...


REDACTED = "[redacted: unreleased text]"
"""What observers get in place of text the rails have not released."""

RAIL_STARTED = "guardrails.rail.started"
RAIL_PASSED = "guardrails.rail.passed"
RAIL_BLOCKED = "guardrails.rail.blocked"
RAIL_ERROR = "guardrails.rail.error"
RAIL_CANCELLED = "guardrails.rail.cancelled"
STREAM_STARTED = "guardrails.stream.started"
WINDOW_STARTED = "guardrails.window.started"
WINDOW_CHECKED = "guardrails.window.checked"
WINDOW_RELEASED = "guardrails.window.released"
STREAM_ENDED = "guardrails.stream.ended"
EVENT_NAMES = (
    RAIL_STARTED,
    RAIL_PASSED,
    RAIL_BLOCKED,
    RAIL_ERROR,
    RAIL_CANCELLED,
    STREAM_STARTED,
    WINDOW_STARTED,
    WINDOW_CHECKED,
    WINDOW_RELEASED,
    STREAM_ENDED,
)
"""Every custom event name langchain_guardrails dispatches."""


_STAGE_TAGS = {
    f"guardrails:{stage}": stage for stage in ("input", "output", "tool_input", "tool_output")
}


def rail_stage(tags: list[str]) -> str:
    """The stage of a rail run, from the ``guardrails:<stage>`` tag the guard gives its rails."""
    return next((_STAGE_TAGS[t] for t in tags if t in _STAGE_TAGS), "output")


def rail_manager(
    manager: AsyncCallbackManager, rail: str, stage: str, window: int | None
) -> AsyncCallbackManager:
    """The manager of one rail run: the run and its LLM calls carry the rail name as a tag,
    and rail, stage and window in their metadata (LangSmith filters on both)."""
    tagged = manager.copy()
    tagged.add_tags([rail])
    metadata: dict[str, Any] = {"guardrails_rail": rail, "guardrails_stage": stage}
    if window is not None:
        metadata["guardrails_window"] = window
    tagged.add_metadata(metadata)
    return tagged


class RailEvents:
    """Started / terminal events of one rail run."""

    __slots__ = ("base", "manager", "run_id", "started")

    def __init__(
        self,
        manager: AsyncCallbackManager,
        run_id: UUID | None,
        rail: str,
        stage: str,
        window: int | None,
    ) -> None:
        self.manager = manager
        self.run_id = run_id
        self.base: dict[str, Any] = {"rail": rail, "stage": stage, "window": window}
        self.started = 0.0

    async def start(self) -> None:
        self.started = time.perf_counter()
        data = {**self.base, "started_at": self.started}
        await self.manager.on_custom_event(RAIL_STARTED, data, run_id=self.run_id)

    async def end(self, decision: Verdict) -> None:
        if decision.kind == "internal_error":
            name, verdict = RAIL_ERROR, "error"
        elif not decision.allowed:
            name, verdict = RAIL_BLOCKED, "blocked"
        else:
            name, verdict = RAIL_PASSED, "passed" if decision.text is None else "modified"
        extra = {"kind": decision.kind} if name == RAIL_BLOCKED else {}
        await self._end(name, verdict, stop=not decision.allowed, **extra)

    async def cancelled(self) -> None:
        await self._end(RAIL_CANCELLED, "cancelled", stop=False)

    async def _end(self, name: str, verdict: str, *, stop: bool, **extra: Any) -> None:
        ended = time.perf_counter()
        data = {
            **self.base,
            "started_at": self.started,
            "ended_at": ended,
            "duration": ended - self.started,
            "decision": verdict,
            "stop": stop,
            **extra,
        }
        await self.manager.on_custom_event(name, data, run_id=self.run_id)


__all__ = [
    "EVENT_NAMES",
    "RAIL_BLOCKED",
    "RAIL_CANCELLED",
    "RAIL_ERROR",
    "RAIL_PASSED",
    "RAIL_STARTED",
    "REDACTED",
    "STREAM_ENDED",
    "STREAM_STARTED",
    "WINDOW_CHECKED",
    "WINDOW_RELEASED",
    "WINDOW_STARTED",
    "RailEvents",
    "Verdict",
    "rail_manager",
    "rail_stage",
]
