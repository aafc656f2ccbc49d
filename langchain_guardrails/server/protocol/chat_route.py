"""``POST /v1/chat/completions``: OpenAI's chat protocol over one guarded run
(:func:`~langchain_guardrails.server.protocol.completions.turn`), streamed or whole."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
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
from langchain_guardrails.server.protocol.completions import (
    DONE,
    capped_kwargs,
    complete,
    event,
    event_stream,
    timeout_error,
)
from langchain_guardrails.server.protocol.json_http import JSONBody, request_json
from langchain_guardrails.server.protocol.openai_schema import ChatRequest, parse_chat_request
from langchain_guardrails.server.protocol.openai_tools import require_tool_calling
from langchain_guardrails.server.protocol.route_deps import RouteDeps
from langchain_guardrails.server.protocol.sse import EventStreamResponse
from langchain_guardrails.server.upstream.failures import failure

logger = logging.getLogger("langchain_guardrails.server")

_ON_DRAIN = event(shutdown_error()) + DONE


def add_chat_route(app: FastAPI, deps: RouteDeps) -> None:
    """Serve ``POST /v1/chat/completions`` on ``app``."""

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        drain = deps.drain
        started = time.perf_counter()
        chat = parse_chat_request(await request_json(request))
        guarded, config_id = await deps.guardrails_for(chat.config_id, chat.model)
        chat = replace(chat, model_kwargs=capped_kwargs(guarded, chat.model_kwargs))
        if "tools" in chat.model_kwargs:
            require_tool_calling(guarded, config_id, chat.legacy_functions)
        model = chat.model or chat.config_id or deps.default_model
        log_rails = _log_rails(chat)
        rid = request_id(request.scope)
        observer = RailObserver(config_id, rid, deps.metrics) if deps.rail_metrics else None
        span = RequestSpan.start(
            "/v1/chat/completions",
            config_id,
            rid,
            stream=chat.stream,
            tracer_provider=deps.tracer_provider,
        )
        observers: list[BaseCallbackHandler] = [observer] if observer is not None else []
        if span is not None:
            observers.append(span.handler)

        def on_end(guardrails: dict[str, Any]) -> None:
            record_outcome(guardrails, config_id, rid, deps.metrics)
            if span is not None:
                span.end(guardrails, status=200)

        if chat.stream:

            def first_content() -> None:
                if deps.metrics is not None:
                    seconds = time.perf_counter() - started
                    deps.metrics.time_to_first_token.labels(config_id=config_id).observe(seconds)

            events = event_stream(
                guarded,
                chat.messages,
                chat.model_kwargs,
                model=model,
                include_usage=chat.include_usage,
                nemo_errors=deps.nemo_errors or chat.options.get("nemo_errors") is True,
                log_rails=log_rails,
                observer=observers,
                first_content=first_content,
                on_end=on_end,
                legacy_functions=chat.legacy_functions,
            )
            on_deadline = event(timeout_error(deps.request_timeout or 0)) + DONE
            return EventStreamResponse(
                tracked_stream(events, deps.metrics, span) if deps.metrics or span else events,
                deadline=deps.request_timeout,
                on_deadline=on_deadline,
                drain=drain,
                on_drain=_ON_DRAIN,
            )

        async def work() -> dict[str, Any]:
            deadline = asyncio.timeout(deps.request_timeout)
            try:
                async with deadline, drain.following(deadline):
                    body = await complete(
                        guarded,
                        chat.messages,
                        chat.model_kwargs,
                        model=model,
                        log_rails=log_rails,
                        observer=observers,
                        legacy_functions=chat.legacy_functions,
                    )
                on_end(body["guardrails"])
                return body
            except TimeoutError:
                if deadline.expired():  # the request's own deadline, or the drain's end
                    return (
                        shutdown_error()
                        if drain.cutting
                        else timeout_error(deps.request_timeout or 0)
                    )
                raise

        try:
            gone, body = await cancel_on_disconnect(request.receive, work)
        except Exception as exc:
            failed, error = failure(exc)
            if span is not None:
                span.end(None, status=failed)
            message = "chat completion failed [request %s]"
            log_failure(
                logger, logging.ERROR, message, rid, error=exc, request_id=rid, config_id=config_id
            )
            return JSONBody(error, status_code=failed)
        status = (
            499 if gone else (503 if drain.cutting else 504) if body and "error" in body else 200
        )
        if span is not None:
            span.end(None, status=status)  # no-op when on_end closed it
        if gone:
            # 499 is never seen by the client that left; it keeps access logs honest.
            return Response(status_code=499)
        return JSONBody(body, status_code=status)


def _log_rails(chat: ChatRequest) -> bool:
    return isinstance(log := chat.options.get("log"), dict) and log.get("activated_rails") is True


__all__ = ["add_chat_route"]
