"""``POST /v1/chat/completions``: OpenAI's chat protocol over one guarded run
(:func:`~langchain_guardrails.server.protocol.completions.turn`), streamed or whole."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from langchain_guardrails.server.operations.drain import shutdown_error
from langchain_guardrails.server.protocol.completions import (
    DONE,
    capped_kwargs,
    complete,
    event,
    event_stream,
    timeout_error,
)
from langchain_guardrails.server.protocol.json_http import request_json
from langchain_guardrails.server.protocol.openai_schema import ChatRequest, parse_chat_request
from langchain_guardrails.server.protocol.openai_tools import require_tool_calling
from langchain_guardrails.server.protocol.route_deps import RouteDeps
from langchain_guardrails.server.protocol.route_run import RouteRun

logger = logging.getLogger("langchain_guardrails.server")

_ON_DRAIN = event(shutdown_error()) + DONE


def add_chat_route(app: FastAPI, deps: RouteDeps) -> None:
    """Serve ``POST /v1/chat/completions`` on ``app``."""

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        chat = parse_chat_request(await request_json(request))
        guarded, config_id = await deps.guardrails_for(chat.config_id, chat.model)
        chat = replace(chat, model_kwargs=capped_kwargs(guarded, chat.model_kwargs))
        if "tools" in chat.model_kwargs:
            require_tool_calling(guarded, config_id, chat.legacy_functions)
        model = chat.model or chat.config_id or deps.default_model
        log_rails = _log_rails(chat)
        run = RouteRun.start(request, deps, "/v1/chat/completions", config_id, stream=chat.stream)
        if chat.stream:
            events = event_stream(
                guarded,
                chat.messages,
                chat.model_kwargs,
                model=model,
                include_usage=chat.include_usage,
                nemo_errors=deps.nemo_errors or chat.options.get("nemo_errors") is True,
                log_rails=log_rails,
                observer=run.observers,
                first_content=run.first_content,
                on_end=run.on_end,
                legacy_functions=chat.legacy_functions,
            )
            on_deadline = event(timeout_error(deps.request_timeout or 0)) + DONE
            return run.streamed(events, on_deadline=on_deadline, on_drain=_ON_DRAIN)

        async def produce() -> dict[str, Any]:
            body = await complete(
                guarded,
                chat.messages,
                chat.model_kwargs,
                model=model,
                log_rails=log_rails,
                observer=run.observers,
                legacy_functions=chat.legacy_functions,
            )
            run.on_end(body["guardrails"])
            return body

        return await run.whole(request, produce, what="chat completion")


def _log_rails(chat: ChatRequest) -> bool:
    return isinstance(log := chat.options.get("log"), dict) and log.get("activated_rails") is True


__all__ = ["add_chat_route"]
