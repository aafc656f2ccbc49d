"""Optional OpenTelemetry spans of the server: one per request, per rail run, per model call.

Used only when ``opentelemetry-api`` is installed (``otel`` extra) and the tracer provider
records (an SDK provider is set up, e.g. by ``opentelemetry-instrument``); otherwise a request
costs one failed import check and nothing is attached to the guarded call. The spans come from a
callback handler the server passes per call, so the rail engine knows nothing of OpenTelemetry.
Attributes hold names, stages, window indices, decisions, durations and token counts, never any
text of the request or the answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from langchain_guardrails.observability.events import (
    RAIL_BLOCKED,
    RAIL_CANCELLED,
    RAIL_ERROR,
    RAIL_PASSED,
)

_RAIL_ENDS = frozenset((RAIL_PASSED, RAIL_BLOCKED, RAIL_ERROR, RAIL_CANCELLED))
_SCOPE = "langchain_guardrails.server"


def _trace_api() -> Any | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


class RequestSpan:
    """The span of one request, and the callback handler that adds its rail and model spans.

    Example:
        .. code-block:: python

            span = RequestSpan.start("/v1/chat/completions", "cfg", request_id, stream=True)
            callbacks = [span.handler] if span else []
            ...
            if span:
                span.end(final_guardrails_metadata, status=200)
    """

    def __init__(self, trace: Any, tracer: Any, span: Any) -> None:
        self._trace = trace
        self.span = span
        self.handler = SpanHandler(trace, tracer, trace.set_span_in_context(span))
        self._ended = False

    @classmethod
    def start(
        cls,
        route: str,
        config_id: str,
        request_id: str,
        *,
        stream: bool,
        tracer_provider: Any | None = None,
    ) -> RequestSpan | None:
        """Open the span of a request; ``None`` when OpenTelemetry is missing or not recording.

        ``tracer_provider`` defaults to the global one.
        """
        trace = _trace_api()
        if trace is None:
            return None
        tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        span = tracer.start_span(
            "guardrails.request",
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.route": route,
                "guardrails.config_id": config_id,
                "guardrails.request_id": request_id,
                "guardrails.stream": stream,
            },
        )
        if not span.is_recording():
            # No SDK set up: attach nothing, so the guarded call emits no per-rail events.
            span.end()
            return None
        return cls(trace, tracer, span)

    def end(self, guardrails: Mapping[str, Any] | None, *, status: int) -> None:
        """Record the outcome (blocked, stage, rail: no reason text) and close the span once."""
        if self._ended:
            return
        self._ended = True
        self.span.set_attribute("http.status_code", status)
        if guardrails is not None:
            blocked = bool(guardrails.get("blocked"))
            self.span.set_attribute("guardrails.blocked", blocked)
            if blocked:
                for key in ("stage", "rail"):
                    if isinstance(guardrails.get(key), str):
                        self.span.set_attribute(f"guardrails.{key}", guardrails[key])
        if status >= 500:
            self.span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        self.span.end()


class SpanHandler(BaseCallbackHandler):
    """Rail-run and model-call spans under one request span; pass one per call in callbacks.

    A rail span is made when the rail run ends (its start is back-dated by the duration the
    engine measured), so rails cancelled after the call ended are still recorded.
    """

    run_inline = True

    def __init__(self, trace: Any, tracer: Any, parent: Any) -> None:
        self._trace = trace
        self._tracer = tracer
        self._parent = parent
        self._root: UUID | None = None
        self._models: dict[UUID, Any] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open the span of the main model call (a child of the guarded run, not of a rail)."""
        if parent_run_id is None:
            self._root = run_id  # the guarded call itself
        elif parent_run_id == self._root and "guardrails:rail" not in (tags or ()):
            self._models[run_id] = self._tracer.start_span(
                "guardrails.model",
                context=self._parent,
                kind=self._trace.SpanKind.CLIENT,
                attributes={"gen_ai.operation.name": "chat"},
            )

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """As :meth:`on_chat_model_start`, for a plain LLM."""
        self.on_chat_model_start(
            serialized, prompts, run_id=run_id, parent_run_id=parent_run_id, tags=tags
        )

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the model span, with token counts when the model reported them."""
        span = self._models.pop(run_id, None)
        if span is None:
            return
        for generations in getattr(response, "generations", None) or ():
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage:
                    span.set_attribute("gen_ai.usage.input_tokens", usage.get("input_tokens", 0))
                    span.set_attribute("gen_ai.usage.output_tokens", usage.get("output_tokens", 0))
        span.end()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the model span as failed (exception type only: messages may quote text)."""
        span = self._models.pop(run_id, None)
        if span is not None:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
            span.end()

    def on_custom_event(
        self, name: str, data: Any, *, run_id: UUID, tags: list[str] | None = None, **kwargs: Any
    ) -> None:
        """One span per finished rail run, named after the rail flow."""
        if name not in _RAIL_ENDS or not isinstance(data, dict):
            return
        duration = data.get("duration")
        seconds = duration if isinstance(duration, float) else 0.0
        end = time.time_ns()
        attributes: dict[str, Any] = {
            "guardrails.stage": str(data.get("stage")),
            "guardrails.decision": str(data.get("decision")),
            "guardrails.duration": seconds,
        }
        if isinstance(data.get("window"), int):
            attributes["guardrails.window"] = data["window"]
        if isinstance(data.get("kind"), str):
            attributes["guardrails.kind"] = data["kind"]
        span = self._tracer.start_span(
            str(data.get("rail")),
            context=self._parent,
            attributes=attributes,
            start_time=end - int(seconds * 1e9),
        )
        if name == RAIL_ERROR:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        span.end(end_time=end)
