"""``POST /ui/api/run``: one console run, streamed as server-sent events.

The answer is the chat route's own stream (:func:`~langchain_guardrails.server.protocol.
completions.event_stream`, the bytes an OpenAI client gets, as ``event: chunk``), interleaved
with the run's timeline (``event: timeline``, from :class:`TimelineCollector`). Only this
route attaches the collector: requests to the API routes pay nothing for the console.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import suppress
from typing import Any

from fastapi import Request
from langchain_core.messages import BaseMessage

from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.server.console.modes import Mode
from langchain_guardrails.server.console.timeline import TimelineCollector, block_summary
from langchain_guardrails.server.operations.telemetry import RailObserver
from langchain_guardrails.server.protocol.completions import DONE, event, event_stream
from langchain_guardrails.server.protocol.route_deps import RouteDeps
from langchain_guardrails.server.protocol.route_run import RouteRun
from langchain_guardrails.server.protocol.sse import EventStreamResponse

_END = object()


def console_stream(
    request: Request,
    deps: RouteDeps,
    guarded: Guardrails,
    config_id: str,
    messages: list[BaseMessage],
    mode: Mode | None,
    *,
    debug: bool,
) -> EventStreamResponse:
    """The SSE response of one console run (see the module docstring)."""
    run = RouteRun.start(request, deps, "/ui/api/run", config_id, stream=True)
    if deps.metrics is not None and not deps.rail_metrics:
        # Console runs listen anyway: their rail timings feed the Rails page at no extra cost.
        run.observers.append(RailObserver(config_id, run.request_id, deps.metrics))
    streaming = guarded.config.rails.output.streaming
    start = {
        "type": "console.run",
        "config_id": config_id,
        "mode": "stream_first" if streaming.stream_first else "hold_back",
        "requested_mode": mode,
        "debug": debug,
    }
    body = _merged(guarded, messages, run, config_id, start, debug=debug)
    on_deadline = _timeline({"type": "console.error", "message": "request timeout"}) + DONE
    return run.streamed(body, on_deadline=on_deadline, on_drain=on_deadline)


async def _merged(
    guarded: Guardrails,
    messages: list[BaseMessage],
    run: RouteRun,
    config_id: str,
    start: dict[str, Any],
    *,
    debug: bool,
) -> AsyncGenerator[bytes, None]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    collector = TimelineCollector(lambda e: queue.put_nowait(_timeline(e)), debug=debug)
    ended: list[dict[str, Any]] = []

    def on_end(guardrails: dict[str, Any]) -> None:
        ended.append(guardrails)
        run.on_end(guardrails)

    chunks = event_stream(
        guarded,
        messages,
        {},
        model=config_id,
        include_usage=True,
        observer=[*run.observers, collector],
        first_content=run.first_content,
        on_end=on_end,
    )

    async def pump() -> None:
        try:
            async for data in chunks:
                if data == DONE:
                    break
                queue.put_nowait(b"event: chunk\n" + data)
        finally:
            await chunks.aclose()
            queue.put_nowait(_END)

    yield _timeline(start)
    task = asyncio.ensure_future(pump())
    try:
        while (item := await queue.get()) is not _END:
            yield item
        await task  # re-raises what the pump met
        # Events of rails cancelled at the end may still be queued.
        while not queue.empty():
            if (item := queue.get_nowait()) is not _END:
                yield item
        guardrails = ended[0] if ended else {}
        yield _timeline(block_summary(guardrails, collector.arrivals, collector.block_at))
        yield DONE
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


def _timeline(data: dict[str, Any]) -> bytes:
    return b"event: timeline\n" + event(data)


def sse_lines(raw: str) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs of a console run's SSE body (for tests and scripts).

    Example:
        .. code-block:: python

            sse_lines('event: chunk\\ndata: {"a": 1}\\n\\ndata: [DONE]\\n\\n')
            # [("chunk", {"a": 1}), ("message", "[DONE]")]
    """
    out: list[tuple[str, Any]] = []
    for block in raw.split("\n\n"):
        name, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            out.append((name, data if data == "[DONE]" else json.loads(data)))
    return out


__all__ = ["console_stream", "sse_lines"]
