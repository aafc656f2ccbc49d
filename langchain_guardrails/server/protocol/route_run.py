"""One request's run on a protocol route, whatever the protocol: its rail observers and span,
time to first token, the outcome's metrics, and how a streamed or a whole answer is served
(deadline, drain, a client that leaves, a failure logged without the text it carries).

Each route (chat completions, Responses, Messages) decodes its request, encodes its answer and
leaves the rest to :class:`RouteRun`, so the rules of serving live in one place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from langchain_core.callbacks import BaseCallbackHandler

from langchain_guardrails.observability.safe_logging import log_failure
from langchain_guardrails.server.operations.access import request_id
from langchain_guardrails.server.operations.disconnects import cancel_on_disconnect
from langchain_guardrails.server.operations.drain import shutdown_error
from langchain_guardrails.server.operations.telemetry import (
    RailObserver,
    record_outcome,
    tracked_stream,
)
from langchain_guardrails.server.operations.tracing import RequestSpan
from langchain_guardrails.server.protocol.completions import timeout_error
from langchain_guardrails.server.protocol.json_http import JSONBody
from langchain_guardrails.server.protocol.route_deps import RouteDeps
from langchain_guardrails.server.protocol.sse import EventStreamResponse
from langchain_guardrails.server.upstream.failures import failure

logger = logging.getLogger("langchain_guardrails.server")


def _same(status: int, error: dict[str, Any]) -> dict[str, Any]:
    return error


@dataclass
class RouteRun:
    """The bookkeeping of one request (built per request, by :meth:`start`)."""

    deps: RouteDeps
    config_id: str
    request_id: str
    started: float
    span: RequestSpan | None
    observers: list[BaseCallbackHandler] = field(default_factory=list)
    """Callback handlers of the guarded run: the rail observer (``--rail-metrics``), the span's."""

    @classmethod
    def start(
        cls, request: Request, deps: RouteDeps, path: str, config_id: str, *, stream: bool
    ) -> RouteRun:
        started = time.perf_counter()
        rid = request_id(request.scope)
        span = RequestSpan.start(
            path, config_id, rid, stream=stream, tracer_provider=deps.tracer_provider
        )
        observers: list[BaseCallbackHandler] = []
        if deps.rail_metrics:
            observers.append(RailObserver(config_id, rid, deps.metrics))
        if span is not None:
            observers.append(span.handler)
        return cls(deps, config_id, rid, started, span, observers)

    def first_content(self) -> None:
        """The first released piece is about to be sent (time to first token)."""
        metrics = self.deps.metrics
        if metrics is not None:
            seconds = time.perf_counter() - self.started
            metrics.time_to_first_token.labels(config_id=self.config_id).observe(seconds)

    def on_end(self, guardrails: dict[str, Any]) -> None:
        """The guarded run ended with this ``guardrails`` metadata (blocked or not)."""
        record_outcome(guardrails, self.config_id, self.request_id, self.deps.metrics)
        if self.span is not None:
            self.span.end(guardrails, status=200)

    def streamed(
        self,
        events: AsyncGenerator[bytes, None],
        *,
        on_deadline: bytes | Callable[[], bytes],
        on_drain: bytes | Callable[[], bytes],
    ) -> EventStreamResponse:
        """An SSE answer; ``on_deadline`` / ``on_drain`` end a stream cut by the request's
        deadline or by the server's drain, in the protocol's own terms."""
        metrics, span = self.deps.metrics, self.span
        return EventStreamResponse(
            tracked_stream(events, metrics, span) if metrics or span else events,
            deadline=self.deps.request_timeout,
            on_deadline=on_deadline,
            drain=self.deps.drain,
            on_drain=on_drain,
        )

    async def whole(
        self,
        request: Request,
        produce: Callable[[], Awaitable[dict[str, Any]]],
        *,
        what: str,
        errors: Callable[[int, dict[str, Any]], dict[str, Any]] = _same,
    ) -> Response:
        """A whole answer: ``produce()`` under the deadline and the drain, cancelled when the
        client leaves (499). A deadline is 504, the drain's end 503, a failure its status
        (:func:`~langchain_guardrails.server.upstream.failures.failure`); ``errors`` puts those
        (OpenAI-style) error bodies, with their status, in the protocol's envelope."""
        drain, timeout = self.deps.drain, self.deps.request_timeout
        cut: list[int] = []

        async def work() -> dict[str, Any]:
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline, drain.following(deadline):
                    return await produce()
            except TimeoutError:
                if not deadline.expired():
                    raise
                # The request's own deadline, or the drain's end.
                cut.append(503 if drain.cutting else 504)
                return shutdown_error() if drain.cutting else timeout_error(timeout or 0)

        try:
            gone, body = await cancel_on_disconnect(request.receive, work)
        except Exception as exc:
            failed, error = failure(exc)
            if self.span is not None:
                self.span.end(None, status=failed)
            rid = self.request_id
            log_failure(
                logger,
                logging.ERROR,
                f"{what} failed [request %s]",
                rid,
                error=exc,
                request_id=rid,
                config_id=self.config_id,
            )
            return JSONBody(errors(failed, error), status_code=failed)
        status = 499 if gone else cut[0] if cut else 200
        if self.span is not None:
            self.span.end(None, status=status)  # no-op when on_end closed it
        if gone or body is None:
            # 499 is never seen by the client that left; it keeps access logs honest.
            return Response(status_code=499)
        return JSONBody(errors(status, body) if cut else body, status_code=status)


__all__ = ["RouteRun"]
