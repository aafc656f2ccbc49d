"""Tool calls the model emits: held whole, checked by ``rails.tool_output``, then released.

A tool call acts on the world, so no part of it is released before the whole call passed, in
both release modes. Streamed deltas (``tool_call_chunks``) are taken off the chunks that carry
them (the chunks' text goes on through the windows as usual), merged per call, checked when
the model stream ends, and released as one chunk in stream order after the text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage

from .engine import Decision

CheckCall = Callable[[str, Mapping[str, Any]], Awaitable[tuple[Decision, str]]]
"""Checks one tool call: ``(text, {"name", "args", "id"}) -> (decision, stage that decided)``."""

_RAW_TOOL_KEYS = ("tool_calls", "function_call")
"""Provider-format copies of tool calls in ``additional_kwargs``: held with the calls."""


class ToolCallBlocked(Exception):
    """Raised into the guarded stream when a tool call was blocked."""

    def __init__(self, decision: Decision, stage: str = "tool_output") -> None:
        super().__init__(f"tool call blocked by rail {decision.rail!r}")
        self.decision = decision
        self.stage = stage


class _Call:
    __slots__ = ("args", "id", "index", "name")

    def __init__(self, index: Any) -> None:
        self.index = index
        self.name: str | None = None
        self.id: str | None = None
        self.args = ""


def call_text(name: str | None, args: Any) -> str:
    """What text rails see of a tool call: its name and its JSON arguments."""
    rendered = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return f"{name or ''}({rendered})"


def parsed_args(raw: str) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return raw


async def gate_tool_calls(
    source: AsyncIterator[Any], check: CheckCall
) -> AsyncIterator[AIMessageChunk]:
    """``source`` without its tool-call deltas; at its end, the calls as one chunk once every
    call passed ``check`` (concurrently), or :class:`ToolCallBlocked`."""
    calls: dict[Any, _Call] = {}
    async with aclosing(source) as stream:  # type: ignore[type-var]
        async for chunk in stream:
            if chunk.__class__ is not AIMessageChunk:
                chunk = _as_tool_chunk(chunk)
            if chunk.tool_call_chunks or _has_raw_calls(chunk):
                chunk = _take_calls(chunk, calls)
                if chunk is None:
                    continue
            yield chunk
    if not calls:
        return
    ordered = list(calls.values())
    decisions = await asyncio.gather(
        *(
            check(
                call_text(c.name, c.args),
                {"name": c.name, "args": parsed_args(c.args), "id": c.id},
            )
            for c in ordered
        )
    )
    for decision, stage in decisions:
        if not decision.allowed:
            raise ToolCallBlocked(decision, stage)
    yield AIMessageChunk(
        content="",
        tool_call_chunks=[
            {"name": c.name, "args": c.args, "id": c.id, "index": i, "type": "tool_call_chunk"}
            for i, c in enumerate(ordered)
        ],
    )


def _has_raw_calls(chunk: AIMessageChunk) -> bool:
    extra = chunk.additional_kwargs
    return bool(extra) and any(key in extra for key in _RAW_TOOL_KEYS)


def _take_calls(chunk: AIMessageChunk, calls: dict[Any, _Call]) -> AIMessageChunk | None:
    """Merge the chunk's deltas into ``calls``; the chunk without them (None when nothing else
    was in it)."""
    for delta in chunk.tool_call_chunks:
        index = delta.get("index")
        key = index if index is not None else (delta.get("id") or len(calls))
        call = calls.get(key)
        if call is None:
            call = calls[key] = _Call(key)
        if delta.get("name"):
            call.name = (call.name or "") + str(delta["name"])
        if delta.get("id") and call.id is None:
            call.id = delta["id"]
        if delta.get("args"):
            call.args += str(delta["args"])
    extra = {k: v for k, v in chunk.additional_kwargs.items() if k not in _RAW_TOOL_KEYS}
    rest = chunk.model_copy(
        update={
            "tool_call_chunks": [],
            "tool_calls": [],
            "invalid_tool_calls": [],
            "additional_kwargs": extra,
        }
    )
    if (
        not rest.content
        and not extra
        and rest.usage_metadata is None
        and rest.chunk_position is None
        and not rest.response_metadata
    ):
        return None
    return rest


def _as_tool_chunk(message: Any) -> Any:
    """A whole ``AIMessage`` (a model without streaming) as a chunk whose calls are deltas."""
    if not isinstance(message, BaseMessage) or isinstance(message, AIMessageChunk):
        return message
    calls = getattr(message, "tool_calls", None) or []
    data = {
        k: v
        for k, v in message.__dict__.items()
        if k in AIMessageChunk.model_fields
        and k not in ("type", "tool_calls", "invalid_tool_calls", "tool_call_chunks")
    }
    data["tool_call_chunks"] = [
        {
            "name": c["name"],
            "args": json.dumps(c["args"], ensure_ascii=False),
            "id": c.get("id"),
            "index": i,
            "type": "tool_call_chunk",
        }
        for i, c in enumerate(calls)
    ]
    return AIMessageChunk(**data)


__all__ = ["CheckCall", "ToolCallBlocked", "call_text", "gate_tool_calls", "parsed_args"]
