"""Released chunks as OpenAI ``delta`` objects, and deltas summed into one ``message``.

A released chunk may carry text (``content``), checked reasoning (``reasoning_content``, the
field DeepSeek, vLLM and other OpenAI-compatible servers use) and tool calls. Tool calls come in
OpenAI's framing: the first delta of a call has its ``index``, ``id``, ``type`` and function
``name`` with empty ``arguments``; the argument text follows in fragments with the ``index``
only. A request that declared legacy ``functions`` gets ``function_call`` deltas instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import AIMessageChunk

from langchain_guardrails.streaming.reasoning import block_reasoning, kwarg_reasoning
from langchain_guardrails.streaming.tool_calls import AssembledCall, ToolCallAssembler


class DeltaWriter:
    """The OpenAI deltas of one answer's released chunks, in order (one per answer).

    Tool-call deltas are joined by
    :class:`~langchain_guardrails.streaming.tool_calls.ToolCallAssembler`, the one assembler every
    path uses: its calls are numbered 0, 1, ... in the order they started. A call's head (id and
    name) is written when its first argument text comes, or when the next call starts, or at
    :meth:`finish`, so a name split over deltas goes out whole. Legacy ``function_call`` has room
    for one call per message: with ``legacy_functions`` the first call is written, later ones are
    not (never concatenated).
    """

    __slots__ = ("_assembler", "_calls", "_pending", "legacy")

    def __init__(self, *, legacy_functions: bool = False) -> None:
        self.legacy = legacy_functions
        self._assembler = ToolCallAssembler()
        self._calls: dict[int, int] = {}
        """``id()`` of each assembled call whose head was written -> its OpenAI index."""
        self._pending: AssembledCall | None = None
        """A started call whose head waits for its first argument text."""

    @property
    def called_tools(self) -> bool:
        """Whether any tool call was written."""
        return bool(self._calls)

    def deltas(self, chunk: AIMessageChunk) -> list[dict[str, Any]]:
        """The deltas of one released chunk (none for an empty one).

        Example:
            .. code-block:: python

                DeltaWriter().deltas(AIMessageChunk(content="Hi"))  # [{"content": "Hi"}]
        """
        content = chunk.content
        if content.__class__ is str and not chunk.additional_kwargs and not chunk.tool_call_chunks:
            return [{"content": content}] if content else []  # the common case, kept cheap
        out: list[dict[str, Any]] = []
        reasoning = _reasoning(chunk)
        if reasoning:
            out.append({"reasoning_content": reasoning})
        text = chunk.text
        if text:
            out.append({"content": text})
        for delta in chunk.tool_call_chunks:
            self._call_deltas(delta, out)
        return out

    def finish(self) -> list[dict[str, Any]]:
        """The deltas still owed at the end of the answer (the head of a call without
        arguments)."""
        out: list[dict[str, Any]] = []
        self._flush(out)
        return out

    def _call_deltas(self, delta: Any, out: list[dict[str, Any]]) -> None:
        call, started = self._assembler.add(delta)
        if started:
            self._flush(out)
            self._pending = call
        args = delta.get("args") or ""
        if not args:
            return
        if call is self._pending:
            self._flush(out)
        index = self._calls.get(id(call))
        if index is None:
            return  # a later legacy call: not written
        if self.legacy:
            out.append({"function_call": {"arguments": args}})
        else:
            out.append({"tool_calls": [{"index": index, "function": {"arguments": args}}]})

    def _flush(self, out: list[dict[str, Any]]) -> None:
        call, self._pending = self._pending, None
        if call is None or (self.legacy and self._calls):
            return
        index = self._calls[id(call)] = len(self._calls)
        if self.legacy:
            out.append({"function_call": {"name": call.name, "arguments": ""}})
            return
        head = {
            "index": index,
            "id": call.id or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        out.append({"tool_calls": [head]})


def _reasoning(chunk: AIMessageChunk) -> str:
    parts = [kwarg_reasoning(chunk)]
    content = chunk.content
    if content.__class__ is not str:
        parts.extend(r for r in (block_reasoning(b) for b in content) if r)
    return "".join(parts)


class MessageBuilder:
    """Deltas summed into the ``message`` of a whole ``chat.completion``."""

    __slots__ = ("_calls", "_content", "_function", "_reasoning")

    def __init__(self) -> None:
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[dict[str, Any]] = []
        self._function: dict[str, str] | None = None

    def add(self, delta: dict[str, Any]) -> None:
        """Add one delta written by :class:`DeltaWriter`."""
        if "content" in delta:
            self._content.append(delta["content"])
        if "reasoning_content" in delta:
            self._reasoning.append(delta["reasoning_content"])
        for call in delta.get("tool_calls", ()):
            if "id" in call:
                self._calls.append({"id": call["id"], "type": "function", "function": {
                    "name": call["function"]["name"], "arguments": ""}})  # fmt: skip
            else:
                self._calls[call["index"]]["function"]["arguments"] += call["function"]["arguments"]
        function = delta.get("function_call")
        if function is not None:
            if self._function is None:
                self._function = {"name": function.get("name", ""), "arguments": ""}
            self._function["arguments"] += function.get("arguments", "")

    @property
    def text(self) -> str:
        """The content so far."""
        return "".join(self._content)

    def message(self, *, refusal: str | None = None) -> dict[str, Any]:
        """The assistant ``message``; with ``refusal`` (a block) the refusal alone is its text."""
        if refusal is not None:
            return {"role": "assistant", "content": refusal, "refusal": refusal or None}
        calls = self._calls or self._function is not None
        message: dict[str, Any] = {
            "role": "assistant",
            # As OpenAI: a message that only calls tools has no content.
            "content": self.text if self._content or not calls else None,
            "refusal": None,
        }
        if self._reasoning:
            message["reasoning_content"] = "".join(self._reasoning)
        if self._calls:
            message["tool_calls"] = self._calls
        if self._function is not None:
            message["function_call"] = self._function
        return message
