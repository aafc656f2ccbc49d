"""Observe rails without parsing text: the custom events, and a handler that sums up a request.

When a guarded call has callback handlers (``callbacks=[...]``, ``astream_events``, LangSmith,
``get_usage_metadata_callback``), it dispatches LangChain custom events on the guarded run
(names and payloads: :mod:`langchain_guardrails.observability.events`, re-exported here). They show
up as ``on_custom_event`` in ``astream_events(version="v2")`` and in every handler's
``on_custom_event``; with no handler, none of that code runs.

:class:`GuardrailsCallbackHandler` collects one request's usage, LLM calls and rail latency.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, get_buffer_string
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.context import register_configure_hook
from pydantic import BaseModel, Field

from langchain_guardrails.observability.events import (
    EVENT_NAMES,
    RAIL_BLOCKED,
    RAIL_CANCELLED,
    RAIL_ERROR,
    RAIL_PASSED,
    RAIL_STARTED,
    STREAM_ENDED,
    STREAM_STARTED,
    WINDOW_CHECKED,
    WINDOW_RELEASED,
    WINDOW_STARTED,
)
from langchain_guardrails.observability.explain import ActivatedRail, GenerationStats, LLMCallInfo

_RAIL_ENDS = frozenset({RAIL_PASSED, RAIL_BLOCKED, RAIL_ERROR, RAIL_CANCELLED})


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
        if metadata.get("guardrails_guarded_run"):
            return  # the guarded run: its wrapped model's run is the LLM call
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
                from langchain_guardrails.observability.events import REDACTED

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
    "RailLatency",
    "get_guardrails_callback",
    "task_name",
]
