"""``POST /v1/messages``: Anthropic's Messages protocol over one guarded run
(:func:`~langchain_guardrails.server.protocol.completions.turn`), streamed or whole.

A thin decoder (:mod:`.anthropic_request`) and encoder (:mod:`.anthropic_events`) around the
same turn as the chat route: the release rules are the turn's, never this module's. Errors
answer in Anthropic's envelope (``{"type": "error", "error": {"type", "message"}}``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from langchain_core.callbacks import BaseCallbackHandler

from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.observability.safe_logging import log_failure
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
from langchain_guardrails.server.protocol.completions import (
    TurnEnd,
    capped_kwargs,
    timeout_error,
    turn,
)
from langchain_guardrails.server.protocol.json_http import JSONBody, request_json
from langchain_guardrails.server.protocol.openai_tools import require_tool_calling
from langchain_guardrails.server.protocol.request_error import RequestError
from langchain_guardrails.server.protocol.route_deps import RouteDeps
from langchain_guardrails.server.protocol.route_run import RouteRun
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
    model = asked.model or deps.default_model
    run = RouteRun.start(request, deps, PATH, config_id, stream=asked.stream)
    if asked.stream:
        events = _event_stream(guarded, asked, model, run.observers, run.first_content, run.on_end)
        timeout = deps.request_timeout or 0
        on_deadline = sse(_in_envelope(504, timeout_error(timeout)))
        return run.streamed(events, on_deadline=on_deadline, on_drain=_ON_DRAIN)

    async def produce() -> dict[str, Any]:
        body, guardrails = await _whole(guarded, asked, model, run.observers)
        run.on_end(guardrails)
        return body

    return await run.whole(request, produce, what="message", errors=_in_envelope)


def _in_envelope(status: int, error: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style error body (deadline, drain, failure) in Anthropic's envelope."""
    return error_body(status, error["error"]["message"])


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
