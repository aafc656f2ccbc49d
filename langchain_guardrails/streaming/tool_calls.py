"""Tool calls the model emits: assembled in one place, checked by ``rails.tool_output``, released.

A tool call acts on the world, so no part of it is released before the whole call passed, in
both release modes. Streamed deltas (``tool_call_chunks``) are taken off the chunks that carry
them (the chunks' text goes on through the windows as usual), joined into whole calls by
:class:`ToolCallAssembler`, checked when the model stream ends, and released as one chunk in
stream order after the text.

:class:`ToolCallAssembler` is the only code that decides which call a delta belongs to; the
in-process stream (:func:`gate_tool_calls`), the gateway's delta writer and LangServe (which
serves :class:`~langchain_guardrails.Guardrails` itself) all use it, so what the rails check
is what every path releases. A call's arguments are released as the rails checked them:
JSON-decoded and re-serialised without ASCII escapes (:func:`canonical.decoded_json`), so a
client's JSON parser gives back exactly the value that passed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage

from langchain_guardrails.engine.canonical import decoded_json
from langchain_guardrails.engine.rail_engine import Decision

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


class MalformedToolCall(ValueError):
    """A tool-call delta no consumer can read (a field of the wrong type, a call without a
    name). The message names the field and the type, never the model's text."""


class AssembledCall:
    """One tool call joined from its deltas."""

    __slots__ = ("id", "name", "raw_args")

    def __init__(self) -> None:
        self.name = ""
        self.id: str | None = None
        self.raw_args = ""
        """The argument text as the model sent it (JSON escapes and all)."""

    @property
    def released_args(self) -> str:
        """The argument text released: decoded JSON without ASCII escapes when it parses (what
        the rails checked), the model's text as is when it is not JSON."""
        decoded = decoded_json(self.raw_args)
        return self.raw_args if decoded is None else decoded

    @property
    def args(self) -> Any:
        """The arguments as a value (``{}`` when there are none; the text when not JSON)."""
        return parsed_args(self.raw_args)

    @property
    def checked_text(self) -> str:
        """What ``rails.tool_output`` checks: ``name(decoded JSON arguments)``."""
        return call_text(self.name, self.args)

    def tool_call(self) -> dict[str, Any]:
        """The call as rails get it: ``{"name", "args", "id"}``."""
        return {"name": self.name, "args": self.args, "id": self.id}


class ToolCallAssembler:
    """Joins tool-call deltas (``tool_call_chunks``, or legacy ``function_call`` deltas) into
    whole calls, in the order they started. One assembler per answer.

    * a delta with an ``index`` continues the call of that index, unless it carries an ``id``
      other than that call's: then it starts a new call (some servers reuse index 0);
    * a delta without ``index`` continues the call of its ``id``; without both, it continues
      the open call (the last one a delta went to), as the client would join it;
    * names and arguments split over deltas are concatenated (``get_pa`` + ``ssword``).

    Example:
        .. code-block:: python

            calls = ToolCallAssembler()
            calls.add({"name": "f", "args": '{"v": "hun', "id": "c1", "index": None})
            calls.add({"name": None, "args": 'ter2"}', "id": None, "index": None})
            calls.calls[0].released_args  # '{"v": "hunter2"}'
    """

    __slots__ = ("_by_index", "_open", "calls")

    def __init__(self) -> None:
        self.calls: list[AssembledCall] = []
        self._by_index: dict[int, AssembledCall] = {}
        self._open: AssembledCall | None = None

    def add(self, delta: Mapping[str, Any]) -> tuple[AssembledCall, bool]:
        """Join one ``tool_call_chunk`` delta; returns its call and whether it started one.

        Raises:
            MalformedToolCall: a field of the wrong type (``index`` not an integer, ``args``
                not a string...).
        """
        index = delta.get("index")
        if index is not None and (index.__class__ is not int):
            raise MalformedToolCall(f"a tool call delta has an index of type {_kind(index)}")
        call_id = _string(delta, "id")
        name = _string(delta, "name")
        args = _string(delta, "args")
        call: AssembledCall | None
        if index is not None:
            call = self._by_index.get(index)
            if call is not None and call_id and call.id and call_id != call.id:
                call = None  # a second id on the same index is a second call
        elif call_id:
            call = next((c for c in reversed(self.calls) if c.id == call_id), None)
            if call is None and self._open is not None and self._open.id is None:
                call = self._open  # the id came after the name
        else:
            call = self._open
        started = call is None
        if call is None:
            call = AssembledCall()
            self.calls.append(call)
        if index is not None:
            self._by_index[index] = call
        if name:
            call.name += name
        if call_id and call.id is None:
            call.id = call_id
        if args:
            call.raw_args += args
        self._open = call
        return call, started

    def add_legacy(self, function_call: Any) -> tuple[AssembledCall, bool]:
        """Join one legacy ``function_call`` delta (``{"name", "arguments"}``): one with a name
        starts a call, so parallel legacy calls stay separate; one without continues it."""
        if not isinstance(function_call, Mapping):
            raise MalformedToolCall(f"a function_call delta of type {_kind(function_call)}")
        name = _string(function_call, "name")
        args = _string(function_call, "arguments")
        call = None if name or self._open is None else self._open
        started = call is None
        if call is None:
            call = AssembledCall()
            self.calls.append(call)
        call.name += name or ""
        call.raw_args += args or ""
        self._open = call
        return call, started

    def whole(self) -> list[AssembledCall]:
        """Every call, once the stream ended.

        Raises:
            MalformedToolCall: a call has no name (it could be neither checked nor run).
        """
        if any(not c.name for c in self.calls):
            raise MalformedToolCall("a tool call has no name")
        return self.calls


def _string(delta: Mapping[str, Any], key: str) -> str | None:
    value = delta.get(key)
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise MalformedToolCall(f"a tool call delta has {key} of type {_kind(value)}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def call_text(name: str | None, args: Any) -> str:
    """What text rails see of a tool call: its name and its JSON arguments, decoded (a string
    of JSON is decoded first, so ``\\u0068unter2`` is checked as ``hunter2``)."""
    if isinstance(args, str):
        decoded = decoded_json(args)
        rendered = args if decoded is None else decoded
    else:
        rendered = json.dumps(args, ensure_ascii=False)
    return f"{name or ''}({rendered})"


def parsed_args(raw: str) -> Any:
    """Argument text as a value: ``{}`` when empty, the text itself when it is not JSON."""
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return raw


def wire_call_deltas(calls: Any) -> list[dict[str, Any]]:
    """OpenAI's ``delta.tool_calls`` as LangChain ``tool_call_chunks``, shape checked.

    Raises:
        MalformedToolCall: ``tool_calls`` is not a list, an item or its ``function`` is not an
            object (``function: null`` is never a nameless call), or a field has the wrong type.
    """
    if not isinstance(calls, list):
        raise MalformedToolCall(f"tool_calls is of type {_kind(calls)}, not a list")
    out: list[dict[str, Any]] = []
    for at, call in enumerate(calls):
        function = call.get("function", {}) if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            where = f"tool_calls[{at}]" + (".function" if isinstance(call, Mapping) else "")
            raise MalformedToolCall(f"{where} is of type {_kind(function)}, not an object")
        index = call.get("index")
        if index is not None and index.__class__ is not int:
            raise MalformedToolCall(f"tool_calls[{at}].index is of type {_kind(index)}")
        delta = {
            "name": function.get("name"),
            "args": function.get("arguments"),
            "id": call.get("id"),
            "index": index,
            "type": "tool_call_chunk",
        }
        for key, field in (("name", "function.name"), ("args", "function.arguments"),
                           ("id", "id")):  # fmt: skip
            if delta[key] is not None and delta[key].__class__ is not str:
                raise MalformedToolCall(
                    f"tool_calls[{at}].{field} is of type {_kind(delta[key])}, not a string"
                )
        out.append(delta)
    return out


async def gate_tool_calls(
    source: AsyncIterator[Any], check: CheckCall
) -> AsyncIterator[AIMessageChunk]:
    """``source`` without its tool-call deltas; at its end, the calls as one chunk once every
    call passed ``check`` (concurrently), or :class:`ToolCallBlocked`."""
    assembler = ToolCallAssembler()
    async with aclosing(source) as stream:  # type: ignore[type-var]
        async for chunk in stream:
            if chunk.__class__ is not AIMessageChunk:
                chunk = _as_tool_chunk(chunk)
            if chunk.tool_call_chunks or _has_raw_calls(chunk):
                chunk = _take_calls(chunk, assembler)
                if chunk is None:
                    continue
            yield chunk
    if not assembler.calls:
        return
    calls = assembler.whole()
    decisions = await asyncio.gather(*(check(c.checked_text, c.tool_call()) for c in calls))
    for decision, stage in decisions:
        if not decision.allowed:
            raise ToolCallBlocked(decision, stage)
    chunks = [
        {"name": c.name, "args": c.released_args, "id": c.id, "index": i, "type": "tool_call_chunk"}
        for i, c in enumerate(calls)
    ]
    yield AIMessageChunk(content="", tool_call_chunks=chunks)


def _has_raw_calls(chunk: AIMessageChunk) -> bool:
    extra = chunk.additional_kwargs
    return bool(extra) and any(key in extra for key in _RAW_TOOL_KEYS)


def _take_calls(chunk: AIMessageChunk, assembler: ToolCallAssembler) -> AIMessageChunk | None:
    """Join the chunk's deltas in ``assembler``; the chunk without them (None when nothing else
    was in it)."""
    for delta in chunk.tool_call_chunks:
        assembler.add(delta)
    legacy = chunk.additional_kwargs.get("function_call")
    if legacy is not None and not chunk.tool_call_chunks:
        # A model that speaks the legacy protocol only (no tool_call_chunks beside it).
        assembler.add_legacy(legacy)
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


__all__ = [
    "AssembledCall",
    "CheckCall",
    "MalformedToolCall",
    "ToolCallAssembler",
    "ToolCallBlocked",
    "call_text",
    "gate_tool_calls",
    "parsed_args",
    "wire_call_deltas",
]
