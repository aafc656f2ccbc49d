"""Observe rails without parsing text: custom events, and a handler that sums them up per request.

When a guarded call has callback handlers (``callbacks=[...]``, ``astream_events``, LangSmith,
``get_usage_metadata_callback``), it dispatches LangChain *custom events* on the guarded run, so
they show up as ``on_custom_event`` in ``astream_events(version="v2")`` and reach every
handler's ``on_custom_event``. With no handler, none of this code runs.

Payloads hold names, indices, timings, decisions and counts, never text. Times are
``time.perf_counter()`` seconds (one clock for the whole process); units are counted from 0 in
stream order, ranges are half-open ``[first_unit, end_unit)``.

======================================  ======================================================
event name                              payload
======================================  ======================================================
``guardrails.rail.started``             rail, stage, window, started_at
``guardrails.rail.passed``              ... + ended_at, duration, decision (passed|modified), stop
``guardrails.rail.blocked``             ... + decision "blocked", kind, stop
``guardrails.rail.error``               ... + decision "error", stop: the rail raised or timed out
``guardrails.rail.cancelled``           ... + decision "cancelled" (another rail decided first)
``guardrails.stream.started``           t, chunk_size, context_size, stream_first
``guardrails.window.started``           window, first_unit, new_first_unit, end_unit, final, t,
                                        arrivals (arrival time of each new unit)
``guardrails.window.checked``           window, decision, rail (when blocked), started_at,
                                        ended_at, duration
``guardrails.window.released``          window, first_unit, end_unit, t, times (per-unit release
                                        times, ``stream_first`` only)
``guardrails.stream.ended``             units, windows, blocked, t, first_unit, arrivals (units no
                                        window covered)
======================================  ======================================================

``window`` is None for input rails.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, get_buffer_string
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.context import register_configure_hook
from pydantic import BaseModel, Field

from .explain import ActivatedRail, GenerationStats, LLMCallInfo

if TYPE_CHECKING:
    from .engine import Decision
    from .windows import WindowPlan

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
_RAIL_ENDS = frozenset({RAIL_PASSED, RAIL_BLOCKED, RAIL_ERROR, RAIL_CANCELLED})


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

    async def end(self, decision: Decision) -> None:
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


class StreamEvents:
    """Window observer of one guarded stream (see ``windows.WindowObserver``).

    Built only when someone listens. It times each unit's arrival (one wrapper around the
    model stream) and reports windows and releases; memory stays bounded by one window.
    """

    def __init__(self, manager: AsyncCallbackManager, run_id: UUID, plan: WindowPlan) -> None:
        self.manager = manager
        self.run_id = run_id
        self.plan = plan
        self.arrivals: list[float] = []
        """Arrival times of units ``[base, base + len(arrivals))`` not yet reported."""
        self.base = 0
        self.released_to = 0

    async def _emit(self, name: str, data: dict[str, Any]) -> None:
        await self.manager.on_custom_event(name, data, run_id=self.run_id)

    async def timed(self, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """``source`` with each unit's arrival time recorded."""
        from .windows import content_text

        plan = self.plan
        whole = plan.chunk_size == sys.maxsize  # streaming output rails off: one window
        await self._emit(
            STREAM_STARTED,
            {
                "t": time.perf_counter(),
                "chunk_size": None if whole else plan.chunk_size,
                "context_size": plan.context_size,
                "stream_first": plan.stream_first,
            },
        )
        arrivals, clock = self.arrivals, time.perf_counter
        async with aclosing(source) as stream:  # type: ignore[type-var]
            async for chunk in stream:
                content = chunk.content
                if content.__class__ is not str:
                    content = content_text(content)
                if content:
                    arrivals.append(clock())
                yield chunk

    def _take(self, end_unit: int) -> list[float]:
        """Arrival times of units ``[base, end_unit)``, forgotten once taken."""
        count = end_unit - self.base
        taken = self.arrivals[:count]
        del self.arrivals[:count]
        self.base = end_unit
        return taken

    async def window_started(self, index: int, first_unit: int, end_unit: int, final: bool) -> None:
        new_first, now = self.base, time.perf_counter()
        arrivals = self._take(end_unit)
        await self._emit(
            WINDOW_STARTED,
            {
                "window": index,
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
                new_first, end_unit, index, arrivals[-1] if arrivals else now, arrivals
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

    async def released(self, end_unit: int, window: int | None) -> None:
        if end_unit > self.released_to:
            await self._released(self.released_to, end_unit, window, time.perf_counter(), None)

    async def _released(
        self, first: int, end: int, window: int | None, t: float, times: list[float] | None
    ) -> None:
        self.released_to = end
        data: dict[str, Any] = {"window": window, "first_unit": first, "end_unit": end, "t": t}
        if times is not None:
            data["times"] = times
        await self._emit(WINDOW_RELEASED, data)

    async def ended(self, units: int, windows: int, blocked: bool) -> None:
        first = self.base
        arrivals = self._take(first + len(self.arrivals))
        if self.plan.stream_first and arrivals:
            await self._released(first, first + len(arrivals), None, arrivals[-1], arrivals)
        data = {
            "units": units,
            "windows": windows,
            "blocked": blocked,
            "t": time.perf_counter(),
            "first_unit": first,
            "arrivals": arrivals,
        }
        await self._emit(STREAM_ENDED, data)


# -- the summary handler ---------------------------------------------------------------------


class RailLatency(BaseModel):
    """Latency of one rail over a request."""

    calls: int = 0
    total: float = 0.0
    max: float = 0.0

    @property
    def mean(self) -> float:
        """Mean seconds per run."""
        return self.total / self.calls if self.calls else 0.0


class GuardrailsSummary(BaseModel):
    """Usage and rail latency of what a :class:`GuardrailsCallbackHandler` saw."""

    usage: dict[str, UsageMetadata] = Field(default_factory=dict)
    """Usage per model name (the main model and every LLM-based rail call)."""
    total_usage: UsageMetadata | None = None
    llm_calls: list[LLMCallInfo] = Field(default_factory=list)
    rails: list[ActivatedRail] = Field(default_factory=list)
    """Every rail run, in start order."""
    rail_latency: dict[str, RailLatency] = Field(default_factory=dict)
    """Per rail name: runs, total and max seconds."""
    windows: int = 0
    """Output windows checked."""
    blocked: ActivatedRail | None = None
    """The rail run that stopped the call, if any."""
    events: list[dict[str, Any]] = Field(default_factory=list)
    """The guardrails custom events, as ``{"type": name, **payload}``."""

    def stats(self, total_duration: float | None = None) -> GenerationStats:
        """Totals in NeMo's ``GenerationStats`` shape."""
        calls = self.llm_calls
        return GenerationStats(
            input_rails_duration=_stage_time(self.rails, "input"),
            output_rails_duration=_stage_time(self.rails, "output"),
            total_duration=total_duration,
            llm_calls_duration=sum(c.duration or 0.0 for c in calls) if calls else None,
            llm_calls_count=len(calls),
            llm_calls_total_prompt_tokens=sum(c.prompt_tokens or 0 for c in calls),
            llm_calls_total_completion_tokens=sum(c.completion_tokens or 0 for c in calls),
            llm_calls_total_tokens=sum(c.total_tokens or 0 for c in calls),
        )


def _stage_time(rails: list[ActivatedRail], stage: str) -> float | None:
    groups: dict[int | None, tuple[float, float]] = {}
    for rail in rails:
        if rail.stage == stage:
            start, end = groups.get(rail.window, (rail.started_at, rail.finished_at))
            groups[rail.window] = (min(start, rail.started_at), max(end, rail.finished_at))
    return sum(end - start for start, end in groups.values()) if groups else None


def task_name(rail: str | None) -> str:
    """NeMo's task name for the LLM calls of a rail (``general`` for the guarded model)."""
    if rail is None:
        return "general"
    return "_".join(rail.partition("$")[0].split())


class GuardrailsCallbackHandler(BaseCallbackHandler):
    """Collects one request's usage, LLM calls and per-rail latency into a summary.

    Attach it like any handler (``config={"callbacks": [handler]}``) or use
    :func:`get_guardrails_callback`. It sees what every handler sees: in hold-back mode the
    prompts and completions holding unreleased text arrive redacted.

    Example:
        .. code-block:: python

            handler = GuardrailsCallbackHandler()
            await guarded.ainvoke("Hi", config={"callbacks": [handler]})
            summary = handler.summary()
            summary.usage            # {"gpt-4o-mini": {...}, "guard-model": {...}}
            summary.rail_latency["self check output"].max
    """

    run_inline = True  # cheap bookkeeping: no executor hop per event

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._calls: dict[UUID, LLMCallInfo] = {}
        self._usage: dict[str, UsageMetadata] = {}
        self._rails: list[ActivatedRail] = []
        self._events: list[dict[str, Any]] = []
        self._windows = 0

    # -- LLM calls ------------------------------------------------------------------------

    def _start(self, run_id: UUID, prompt: str, metadata: dict[str, Any] | None) -> None:
        metadata = metadata or {}
        rail = metadata.get("guardrails_rail")
        call = LLMCallInfo(
            task=task_name(rail),
            rail=rail,
            llm_model_name=metadata.get("ls_model_name"),
            prompt=prompt,
            started_at=time.perf_counter(),
            id=str(run_id),
        )
        with self._lock:
            self._calls[run_id] = call

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record the start of a chat model call."""
        self._start(run_id, get_buffer_string(messages[0]) if messages else "", metadata)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record the start of a text LLM call."""
        self._start(run_id, prompts[0] if prompts else "", metadata)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record duration, completion and usage."""
        generation = (
            response.generations[0][0] if response.generations and response.generations[0] else None
        )
        usage = None
        metadata: dict[str, Any] = {}
        completion = generation.text if generation is not None else None
        if isinstance(generation, ChatGeneration) and isinstance(generation.message, AIMessage):
            usage = generation.message.usage_metadata
            metadata = generation.message.response_metadata
            if metadata.get("guardrails_redacted"):
                from .redaction import REDACTED

                completion = REDACTED
        if usage is None and response.llm_output:
            usage = _usage_from_llm_output(response.llm_output)
        now = time.perf_counter()
        with self._lock:
            call = self._calls.get(run_id)
            if call is None:
                return
            call.finished_at = now
            call.duration = now - (call.started_at or now)
            call.completion = completion
            call.llm_model_name = metadata.get("model_name") or call.llm_model_name
            call.stopped = bool(metadata.get("guardrails_stopped"))
            if usage is not None:
                call.prompt_tokens = usage["input_tokens"]
                call.completion_tokens = usage["output_tokens"]
                call.total_tokens = usage["total_tokens"]
                name = call.llm_model_name or "unknown"
                known = self._usage.get(name)
                self._usage[name] = usage if known is None else add_usage(known, usage)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the duration of a failed call."""
        now = time.perf_counter()
        with self._lock:
            call = self._calls.get(run_id)
            if call is not None:
                call.finished_at = now
                call.duration = now - (call.started_at or now)

    # -- rail events ----------------------------------------------------------------------

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Collect guardrails events (others are ignored)."""
        if not name.startswith("guardrails.") or not isinstance(data, dict):
            return
        with self._lock:
            self._events.append({"type": name, **data})
            if name == WINDOW_CHECKED:
                self._windows += 1
            elif name in _RAIL_ENDS:
                self._rails.append(
                    ActivatedRail(
                        rail=data["rail"],
                        stage=data["stage"],
                        decision=data["decision"],
                        duration=data["duration"],
                        started_at=data["started_at"],
                        finished_at=data["ended_at"],
                        window=data["window"],
                        stop=data["stop"],
                    )
                )

    # -- results --------------------------------------------------------------------------

    @property
    def usage_metadata(self) -> dict[str, UsageMetadata]:
        """Usage per model name, like ``UsageMetadataCallbackHandler.usage_metadata``."""
        with self._lock:
            return dict(self._usage)

    def summary(self) -> GuardrailsSummary:
        """Everything seen so far, as one object.

        Example:
            .. code-block:: python

                summary = handler.summary()
                print(summary.total_usage, summary.blocked)
        """
        with self._lock:
            calls = [c.model_copy() for c in self._calls.values()]
            rails = sorted(self._rails, key=lambda r: r.started_at)
            usage = dict(self._usage)
            events = list(self._events)
            windows = self._windows
        latency: dict[str, RailLatency] = {}
        for rail in rails:
            entry = latency.setdefault(rail.rail, RailLatency())
            entry.calls += 1
            entry.total += rail.duration
            entry.max = max(entry.max, rail.duration)
        total: UsageMetadata | None = None
        for item in usage.values():
            total = item if total is None else add_usage(total, item)
        return GuardrailsSummary(
            usage=usage,
            total_usage=total,
            llm_calls=calls,
            rails=rails,
            rail_latency=latency,
            windows=windows,
            blocked=next((r for r in rails if r.stop), None),
            events=events,
        )


def _usage_from_llm_output(output: dict[str, Any]) -> UsageMetadata | None:
    usage = output.get("token_usage") or output.get("usage")
    if not isinstance(usage, dict) or "prompt_tokens" not in usage:
        return None
    inputs, outputs = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return UsageMetadata(input_tokens=inputs, output_tokens=outputs, total_tokens=inputs + outputs)


_handler_var: ContextVar[GuardrailsCallbackHandler | None] = ContextVar(
    "langchain_guardrails_callback", default=None
)
register_configure_hook(_handler_var, inheritable=True)


@contextlib.contextmanager
def get_guardrails_callback() -> Iterator[GuardrailsCallbackHandler]:
    """A :class:`GuardrailsCallbackHandler` attached to every LangChain call in the block.

    Example:
        .. code-block:: python

            with get_guardrails_callback() as handler:
                guarded.invoke("Hi")
            print(handler.summary().rail_latency)
    """
    handler = GuardrailsCallbackHandler()
    token = _handler_var.set(handler)
    try:
        yield handler
    finally:
        _handler_var.reset(token)


__all__ = [
    "EVENT_NAMES",
    "RAIL_BLOCKED",
    "RAIL_CANCELLED",
    "RAIL_ERROR",
    "RAIL_PASSED",
    "RAIL_STARTED",
    "STREAM_ENDED",
    "STREAM_STARTED",
    "WINDOW_CHECKED",
    "WINDOW_RELEASED",
    "WINDOW_STARTED",
    "GuardrailsCallbackHandler",
    "GuardrailsSummary",
    "RailEvents",
    "RailLatency",
    "StreamEvents",
    "get_guardrails_callback",
    "rail_manager",
    "task_name",
]
