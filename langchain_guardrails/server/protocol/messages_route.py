"""``POST /v1/messages``: Anthropic's Messages protocol over one guarded run
(:func:`~langchain_guardrails.server.protocol.completions.turn`), streamed or whole.

A thin decoder (:mod:`.anthropic_request`) and encoder (:mod:`.anthropic_events`) around the
same turn as the chat route: the release rules are the turn's, never this module's. Errors
answer in Anthropic's envelope (``{"type": "error", "error": {"type", "message"}}``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from langchain_core.callbacks import BaseCallbackHandler

from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.observability.safe_logging import log_failure
from langchain_guardrails.server.operations.access import request_id
from langchain_guardrails.server.operations.disconnects import cancel_on_disconnect
from langchain_guardrails.server.operations.telemetry import (
    RailObserver,
    record_outcome,
    tracked_stream,
)
from langchain_guardrails.server.operations.tracing import RequestSpan
from langchain_guardrails.server.protocol.anthropic_events import (
    BlockWriter,
    MessageBuilder,
    end_events,
    error_body,
    message_id,
    message_start,
    sse,
)
from langchain_guardrails.server.protocol.anthropic_request import (
    MessagesRequest,
    parse_messages_request,
)
from langchain_guardrails.server.protocol.completions import TurnEnd, capped_kwargs, turn
from langchain_guardrails.server.protocol.json_http import JSONBody, request_json
from langchain_guardrails.server.protocol.openai_tools import require_tool_calling
from langchain_guardrails.server.protocol.request_error import RequestError
from langchain_guardrails.server.protocol.route_deps import RouteDeps
from langchain_guardrails.server.protocol.sse import EventStreamResponse
from langchain_guardrails.server.upstream.failures import failure

logger = logging.getLogger("langchain_guardrails.server")

PATH = "/v1/messages"
_ON_DRAIN = sse(error_body(503, "The server is shutting down; retry on another instance"))


def add_messages_route(app: FastAPI, deps: RouteDeps) -> None:
    """Serve ``POST /v1/messages`` on ``app``."""

    @app.post(PATH, response_model=None)
    async def messages(request: Request) -> Response:
        try:
            asked = parse_messages_request(await request_json(request))
            guarded, config_id = await deps.guardrails_for(asked.config_id, asked.model)
            asked = replace(asked, model_kwargs=capped_kwargs(guarded, asked.model_kwargs))
            if "tools" in asked.model_kwargs:
                require_tool_calling(guarded, config_id, legacy=False)
        except RequestError as exc:
            return JSONBody(error_body(exc.status, exc.message), status_code=exc.status)
        return await _answer(request, deps, asked, guarded, config_id)


async def _answer(
    request: Request, deps: RouteDeps, asked: MessagesRequest, guarded: Guardrails, config_id: str
) -> Response:
    started = time.perf_counter()
    model = asked.model or deps.default_model
    rid = request_id(request.scope)
    observer = RailObserver(config_id, rid, deps.metrics) if deps.rail_metrics else None
    span = RequestSpan.start(
        PATH, config_id, rid, stream=asked.stream, tracer_provider=deps.tracer_provider
    )
    observers: list[BaseCallbackHandler] = [observer] if observer is not None else []
    if span is not None:
        observers.append(span.handler)

    def on_end(guardrails: dict[str, Any]) -> None:
        record_outcome(guardrails, config_id, rid, deps.metrics)
        if span is not None:
            span.end(guardrails, status=200)

    if asked.stream:

        def first_content() -> None:
            if deps.metrics is not None:
                seconds = time.perf_counter() - started
                deps.metrics.time_to_first_token.labels(config_id=config_id).observe(seconds)

        events = _event_stream(guarded, asked, model, observers, first_content, on_end)
        timeout = deps.request_timeout or 0
        on_deadline = sse(error_body(504, _timeout_message(timeout)))
        return EventStreamResponse(
            tracked_stream(events, deps.metrics, span) if deps.metrics or span else events,
            deadline=deps.request_timeout,
            on_deadline=on_deadline,
            drain=deps.drain,
            on_drain=_ON_DRAIN,
        )

    drain = deps.drain

    async def work() -> tuple[int, dict[str, Any]]:
        deadline = asyncio.timeout(deps.request_timeout)
        try:
            async with deadline, drain.following(deadline):
                body, guardrails = await _whole(guarded, asked, model, observers)
            on_end(guardrails)
            return 200, body
        except TimeoutError:
            if deadline.expired():  # the request's own deadline, or the drain's end
                if drain.cutting:
                    return 503, _ON_DRAIN_BODY
                return 504, error_body(504, _timeout_message(deps.request_timeout or 0))
            raise

    try:
        gone, result = await cancel_on_disconnect(request.receive, work)
    except Exception as exc:
        failed, error = failure(exc)
        if span is not None:
            span.end(None, status=failed)
        log_failure(
            logger, logging.ERROR, "message failed [request %s]", rid,
            error=exc, request_id=rid, config_id=config_id,
        )  # fmt: skip
        return JSONBody(error_body(failed, error["error"]["message"]), status_code=failed)
    if gone or result is None:
        if span is not None:
            span.end(None, status=499)
        # 499 is never seen by the client that left; it keeps access logs honest.
        return Response(status_code=499)
    status, body = result
    if span is not None:
        span.end(None, status=status)  # no-op when on_end closed it
    return JSONBody(body, status_code=status)


_ON_DRAIN_BODY = error_body(503, "The server is shutting down; retry on another instance")


def _timeout_message(seconds: float) -> str:
    return f"The generation did not finish within the request timeout of {seconds:g} s"


def _turn(
    guarded: Guardrails, asked: MessagesRequest, observers: list[BaseCallbackHandler]
) -> AsyncGenerator[dict[str, Any] | TurnEnd, None]:
    return turn(guarded, asked.messages, asked.model_kwargs, observer=observers)


async def _whole(
    guarded: Guardrails,
    asked: MessagesRequest,
    model: str,
    observers: list[BaseCallbackHandler],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The whole ``message`` body of one guarded call, and its guardrails metadata."""
    writer, built = BlockWriter(), MessageBuilder(message_id(), model)
    end: TurnEnd | None = None
    async with aclosing(_turn(guarded, asked, observers)) as items:
        async for item in items:
            if isinstance(item, TurnEnd):
                end = item
            else:
                for event in writer.events(item):
                    built.add(event)
    assert end is not None  # turn() always ends with a TurnEnd
    for event in end_events(end, writer):
        built.add(event)
    return built.body(refusal=(end.refusal or "") if end.blocked else None), end.guardrails


async def _event_stream(
    guarded: Guardrails,
    asked: MessagesRequest,
    model: str,
    observers: list[BaseCallbackHandler],
    first_content: Callable[[], None] | None,
    on_end: Callable[[dict[str, Any]], None],
) -> AsyncGenerator[bytes, None]:
    """The SSE body of one streamed message; ``message_stop`` (or an ``error`` event) is last."""
    mid = message_id()
    yield sse(message_start(mid, model))
    writer = BlockWriter()
    try:
        end: TurnEnd | None = None
        # Closed at once when the response stops (client gone): the model stream closes too.
        async with aclosing(_turn(guarded, asked, observers)) as items:
            async for item in items:
                if isinstance(item, TurnEnd):
                    end = item
                    continue
                if first_content is not None:
                    first_content()
                    first_content = None
                for event in writer.events(item):
                    yield sse(event)
        assert end is not None  # turn() always ends with a TurnEnd
        on_end(end.guardrails)
        for event in end_events(end, writer):
            yield sse(event)
    except Exception as exc:
        # A malformed chunk's error may quote model text: frames and type only.
        log_failure(logger, logging.ERROR, "message %s failed", mid, error=exc)
        status, error = failure(exc)
        yield sse(error_body(status, error["error"]["message"]))


__all__ = ["add_messages_route"]
