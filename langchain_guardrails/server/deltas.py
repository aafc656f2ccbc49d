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

from ..reasoning import block_reasoning, kwarg_reasoning


class DeltaWriter:
    """The OpenAI deltas of one answer's released chunks, in order (one per answer)."""

    __slots__ = ("_calls", "_last", "legacy")

    def __init__(self, *, legacy_functions: bool = False) -> None:
        self.legacy = legacy_functions
        self._calls: dict[Any, int] = {}
        """The model's key of each tool call -> its OpenAI index (0, 1, ... in stream order)."""
        self._last: int | None = None

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
        for call in chunk.tool_call_chunks:
            out.extend(self._call_deltas(call))
        return out

    def _call_deltas(self, call: Any) -> list[dict[str, Any]]:
        key = call.get("index")
        if key is None:
            # No index: a delta with a name or id starts a call, one without continues the last.
            key = call.get("id") or (None if call.get("name") is None else len(self._calls))
        index = self._calls.get(key) if key is not None else self._last
        args = call.get("args") or ""
        out: list[dict[str, Any]] = []
        if index is None:
            index = self._calls[key if key is not None else len(self._calls)] = len(self._calls)
            call_id = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
            name = call.get("name") or ""
            if self.legacy:
                out.append({"function_call": {"name": name, "arguments": ""}})
            else:
                function = {"name": name, "arguments": ""}
                head = {"index": index, "id": call_id, "type": "function", "function": function}
                out.append({"tool_calls": [head]})
        self._last = index
        if args:
            if self.legacy:
                out.append({"function_call": {"arguments": args}})
            else:
                out.append({"tool_calls": [{"index": index, "function": {"arguments": args}}]})
        return out


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
