"""LangServe routes for a guarded config: invoke, batch, stream, stream_events, playground."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from langchain_guardrails.errors import require
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.server.operations.limits import JSON_KEY

ENDPOINTS = (
    "invoke",
    "batch",
    "stream",
    "stream_events",
    "stream_log",
    "playground",
    "input_schema",
    "output_schema",
    "config_schema",
)
"""Mounted endpoints. ``stream_log`` is what the built-in playground posts to; like
``stream_events`` it is built from callback events, which carry released text only."""


def add_config_routes(app: Any, guarded: Guardrails, config_id: str) -> None:
    """Mount LangServe's ``add_routes`` for ``guarded`` at ``/configs/{config_id}``.

    ``/stream_events`` shows only released text: in hold-back mode ``Guardrails`` keeps raw
    model tokens and rail inputs out of the callback events LangServe turns into stream events.

    Example:
        .. code-block:: python

            add_config_routes(app, Guardrails(config=config), "streaming")
            # RemoteRunnable("http://127.0.0.1:8000/configs/streaming").astream("Hi")
    """
    langserve = require("langserve", "serve")
    langserve.add_routes(
        app,
        guarded,
        path=f"/configs/{config_id}",
        enabled_endpoints=list(ENDPOINTS),
    )


class LangServeInputMiddleware:
    """422 (not 500) for LangServe inputs its routes cannot take, before any answer started.

    LangServe raises ``TypeError``/``ValueError`` from deep inside input parsing for, e.g.,
    OpenAI-style ``{"role", "content"}`` message dicts; the reason given names the shape
    expected, never the input text.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith("/configs/"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except (TypeError, ValueError) as exc:
            if started:
                raise
            config_id = path.split("/")[2]
            reason = (
                "messages must be LangChain message dicts with a 'type' (human, ai, system); "
                "OpenAI-style role/content dicts go to /v1/chat/completions"
                if _openai_messages(scope.get(JSON_KEY))
                else f"it does not match the input schema ({type(exc).__name__})"
            )
            body = json.dumps(
                {"detail": f"Invalid input: {reason}; see /configs/{config_id}/input_schema"}
            ).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 422, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def _openai_messages(body: Any) -> bool:
    inputs = body.get("input", body.get("inputs")) if isinstance(body, dict) else None
    items = inputs if isinstance(inputs, list) else []
    flat = [m for item in items for m in (item if isinstance(item, list) else [item])]
    return any(isinstance(m, dict) and "role" in m and "type" not in m for m in flat)
