"""``POST /v1/responses``: OpenAI's Responses API over one guarded run
(:func:`~langchain_guardrails.server.protocol.completions.turn`), streamed or whole.

A thin decoder (:mod:`.responses_request`) and a thin encoder (:mod:`.responses_events`);
deadlines, drain, disconnects, metrics and spans as on the chat route.
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
from langchain_guardrails.server.operations.drain import shutdown_error
from langchain_guardrails.server.protocol.completions import (
    TurnEnd,
    capped_kwargs,
    timeout_error,
    turn,
)
from langchain_guardrails.server.protocol.json_http import request_json
from langchain_guardrails.server.protocol.openai_tools import require_tool_calling
from langchain_guardrails.server.protocol.responses_events import ResponseWriter, sse
from langchain_guardrails.server.protocol.responses_request import (
    ResponsesRequest,
    parse_responses_request,
)
from langchain_guardrails.server.protocol.route_deps import RouteDeps
from langchain_guardrails.server.protocol.route_run import RouteRun
from langchain_guardrails.server.upstream.failures import failure

logger = logging.getLogger("langchain_guardrails.server")

PATH = "/v1/responses"


def _error_event(writer: ResponseWriter, error: dict[str, Any]) -> Callable[[], bytes]:
    """The ``error`` event that ends a stream cut by the deadline or the drain, built when it
    happens so that it takes the next ``sequence_number``."""
    body = error["error"]
    return lambda: sse(writer.error(body["code"], body["message"]))


def add_responses_route(app: FastAPI, deps: RouteDeps) -> None:
    """Serve ``POST /v1/responses`` on ``app``."""

    @app.post(PATH, response_model=None)
    async def responses(request: Request) -> Response:
        asked = parse_responses_request(await request_json(request))
        guarded, config_id = await deps.guardrails_for(asked.config_id, asked.model)
        asked = replace(asked, model_kwargs=capped_kwargs(guarded, asked.model_kwargs))
        if "tools" in asked.model_kwargs:
            require_tool_calling(guarded, config_id, False)
        model = asked.model or asked.config_id or deps.default_model
        run = RouteRun.start(request, deps, PATH, config_id, stream=asked.stream)
        writer = ResponseWriter(model, asked.echo)
        if asked.stream:
            events = _event_stream(
                guarded, asked, writer, run.observers, run.first_content, run.on_end
            )
            return run.streamed(
                events,
                on_deadline=_error_event(writer, timeout_error(deps.request_timeout or 0)),
                on_drain=_error_event(writer, shutdown_error()),
            )

        async def produce() -> dict[str, Any]:
            last: dict[str, Any] = {}
            items = _events(guarded, asked, writer, run.observers)
            async with aclosing(items):
                async for event in items:
                    last = event
            body: dict[str, Any] = last["response"]
            run.on_end(body.get("guardrails", {}))
            return body

        return await run.whole(request, produce, what="response")


async def _events(
    guarded: Guardrails,
    asked: ResponsesRequest,
    writer: ResponseWriter,
    observers: list[BaseCallbackHandler],
    first_content: Callable[[], None] | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Every event of one response; the last one holds the final ``response``."""
    for event in writer.start():
        yield event
    log = asked.options.get("log")
    log_rails = isinstance(log, dict) and log.get("activated_rails") is True
    items = turn(guarded, asked.messages, asked.model_kwargs, log_rails=log_rails,
                 observer=observers)  # fmt: skip
    # Closed at once when the response stops (client gone): the model stream closes too.
    async with aclosing(items):
        async for item in items:
            if isinstance(item, TurnEnd):
                for event in writer.end(item):
                    yield event
                continue
            if first_content is not None:
                first_content()
                first_content = None
            for event in writer.deltas(item):
                yield event


async def _event_stream(
    guarded: Guardrails,
    asked: ResponsesRequest,
    writer: ResponseWriter,
    observers: list[BaseCallbackHandler],
    first_content: Callable[[], None],
    on_end: Callable[[dict[str, Any]], None],
) -> AsyncGenerator[bytes, None]:
    """The SSE body of one streamed response."""
    try:
        items = _events(guarded, asked, writer, observers, first_content)
        async with aclosing(items):
            async for event in items:
                if event["type"] in ("response.completed", "response.incomplete"):
                    on_end(event["response"].get("guardrails", {}))
                yield sse(event)
    except Exception as exc:
        # A malformed chunk's error may quote model text: frames and type only.
        log_failure(logger, logging.ERROR, "response %s failed", "stream", error=exc)
        for event in writer.failed(failure(exc)[1]["error"]):
            yield sse(event)


__all__ = ["add_responses_route"]
