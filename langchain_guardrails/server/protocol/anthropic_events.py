"""Released deltas as Anthropic Messages events, and those events summed into one ``message``.

:func:`~langchain_guardrails.server.protocol.completions.turn` yields OpenAI deltas (text,
``reasoning_content``, tool-call heads and argument pieces, already assembled and checked);
:class:`BlockWriter` turns them into ``content_block_start`` / ``_delta`` / ``_stop`` events
(``text_delta``, ``thinking_delta``, ``input_json_delta``). The whole-message body is the same
events applied to an empty message (:class:`MessageBuilder`), so both answers agree.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from langchain_core.messages.ai import UsageMetadata

from langchain_guardrails.server.operations.auth import anthropic_error
from langchain_guardrails.server.protocol.completions import TurnEnd, json_bytes

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
REFUSAL_DETAILS = {"type": "refusal", "category": None, "explanation": None}
"""``stop_details`` of a block: no Anthropic policy category applies to a guardrail."""


def message_id() -> str:
    """A fresh ``msg_...`` id."""
    return f"msg_{uuid.uuid4().hex}"


def sse(event: dict[str, Any]) -> bytes:
    """One SSE event; Anthropic's clients need the ``event:`` line (they skip events without)."""
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + json_bytes(event) + b"\n\n"


error_body = anthropic_error
"""Anthropic's error envelope for an HTTP ``status`` (the one the middleware sends too)."""


def usage_body(usage: UsageMetadata | None) -> dict[str, int]:
    """LangChain ``usage_metadata`` as Anthropic ``usage`` (zeros when the model reported none)."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]}


def message_start(mid: str, model: str) -> dict[str, Any]:
    """The ``message_start`` event (usage is only known at the end: zeros here)."""
    message: dict[str, Any] = {
        "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage_body(None),
    }  # fmt: skip
    return {"type": "message_start", "message": message}


class BlockWriter:
    """The content-block events of one answer's released deltas, in order (one per answer).

    One block is open at a time: a text delta continues an open text block, anything else closes
    the open block and starts its own. Tool calls keep the id and name the gateway released.
    """

    __slots__ = ("_blocks", "_kind", "_tools")

    def __init__(self) -> None:
        self._blocks = 0
        """Blocks started so far (the next block's index)."""
        self._kind: str | None = None
        """The type of the open block (``text``, ``thinking``, ``tool_use``), if one is open."""
        self._tools: dict[int, int] = {}
        """OpenAI tool-call index -> its block index."""

    def events(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        """The events of one delta written by ``DeltaWriter``.

        Example:
            .. code-block:: python

                BlockWriter().events({"content": "Hi"})  # content_block_start, text_delta
        """
        out: list[dict[str, Any]] = []
        reasoning = delta.get("reasoning_content")
        if reasoning:
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
        text = delta.get("content")
        if text:
            out.extend(self.text(text))
        for call in delta.get("tool_calls", ()):
            function = call["function"]
            if "id" in call:
                head = {"type": "tool_use", "id": call["id"], "name": function["name"], "input": {}}
                self._open("tool_use", head, out, force=True)
                self._tools[call["index"]] = self._blocks - 1
            if function["arguments"]:
                piece = {"type": "input_json_delta", "partial_json": function["arguments"]}
                # A piece of an earlier call (interleaved upstream) still names its own block.
                index = self._tools.get(call["index"], self._blocks - 1)
                out.append({"type": "content_block_delta", "index": index, "delta": piece})
        return out

    def text(self, text: str) -> list[dict[str, Any]]:
        """The events of ``text`` (also the refusal of a block, after the released text)."""
        out: list[dict[str, Any]] = []
        self._open("text", {"type": "text", "text": ""}, out)
        out.append(self._delta({"type": "text_delta", "text": text}))
        return out

    def close(self) -> list[dict[str, Any]]:
        """The ``content_block_stop`` of the open block, if any."""
        if self._kind is None:
            return []
        self._kind = None
        return [{"type": "content_block_stop", "index": self._blocks - 1}]

    def _open(
        self, kind: str, block: dict[str, Any], out: list[dict[str, Any]], force: bool = False
    ) -> None:
        if self._kind == kind and not force:
            return
        out.extend(self.close())
        out.append({"type": "content_block_start", "index": self._blocks, "content_block": block})
        self._kind = kind
        self._blocks += 1

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": self._blocks - 1, "delta": delta}


def end_events(end: TurnEnd, writer: BlockWriter) -> list[dict[str, Any]]:
    """The events after the released ones: the refusal of a block (as text), the open block's
    stop, ``message_delta`` (``stop_reason``, usage, ``guardrails``) and ``message_stop``."""
    out = writer.text(end.refusal) if end.refusal else []
    out.extend(writer.close())
    delta: dict[str, Any] = {"stop_reason": _STOP_REASONS.get(end.finish_reason, "end_turn"),
                             "stop_sequence": None}  # fmt: skip
    if end.blocked:
        delta["stop_details"] = REFUSAL_DETAILS
    out.append(
        {
            "type": "message_delta",
            "delta": delta,
            "usage": usage_body(end.usage),
            "guardrails": end.guardrails,
        }
    )
    out.append({"type": "message_stop"})
    return out


class MessageBuilder:
    """Events summed into the whole ``message`` body, as Anthropic's SDK accumulates them."""

    __slots__ = ("_json", "message")

    def __init__(self, mid: str, model: str) -> None:
        self.message: dict[str, Any] = message_start(mid, model)["message"]
        self._json: dict[int, list[str]] = {}
        """Block index -> the argument pieces of a tool call."""

    def add(self, event: dict[str, Any]) -> None:
        """Apply one event (``message_start`` and ``message_stop`` change nothing)."""
        kind, content = event["type"], self.message["content"]
        if kind == "content_block_start":
            content.append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            delta, block = event["delta"], content[event["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            else:
                self._json.setdefault(event["index"], []).append(delta["partial_json"])
        elif kind == "message_delta":
            self.message.update(event["delta"])
            self.message["usage"] = event["usage"]
            self.message["guardrails"] = event["guardrails"]

    def body(self, *, refusal: str | None = None) -> dict[str, Any]:
        """The ``message``; with ``refusal`` (a block) the refusal alone is its content, as
        ``Guardrails.invoke`` answers."""
        for index, pieces in self._json.items():
            self.message["content"][index]["input"] = _arguments("".join(pieces))
        if refusal is not None:
            self.message["content"] = [{"type": "text", "text": refusal}] if refusal else []
        return self.message


def _arguments(raw: str) -> Any:
    # Released arguments are the canonical JSON the rails checked; an upstream that sent broken
    # JSON keeps it visible to the client rather than silently empty.
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"_raw_arguments": raw}
    return value if isinstance(value, dict) else {"_raw_arguments": raw}


__all__ = [
    "BlockWriter",
    "MessageBuilder",
    "end_events",
    "error_body",
    "message_id",
    "message_start",
    "sse",
    "usage_body",
]
