"""The released deltas of one guarded turn as OpenAI Responses stream events, and the final
``response`` object built from the same events (a whole answer is the last event's response).

The input is what :func:`~.completions.turn` yields: chat deltas (``content``,
``reasoning_content``, ``tool_calls`` heads then argument pieces, all after the rails released
them) and a :class:`~.completions.TurnEnd`. Each kind of delta goes to an output item of its
kind (``message``, ``reasoning``, ``function_call``); a delta of another kind closes the open
item and opens the next, as OpenAI's own streams do. A block adds the refusal as a ``refusal``
content part and ends the stream with ``response.incomplete``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages.ai import UsageMetadata

from langchain_guardrails.server.protocol.completions import TurnEnd, json_bytes

_INCOMPLETE = {"content_filter": "content_filter", "length": "max_output_tokens"}
"""Finish reasons that end a response as ``incomplete``, and the reason it gives."""


def sse(event: dict[str, Any]) -> bytes:
    """One SSE event with its ``event:`` line, as OpenAI's Responses streams send it."""
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + json_bytes(event) + b"\n\n"


@dataclass(slots=True)
class _Item:
    kind: str
    """``message``, ``reasoning`` or ``function_call``."""
    id: str
    index: int
    """Its ``output_index``."""
    pieces: list[str] = field(default_factory=list)
    """The open part's text (a function call's arguments)."""
    parts: list[dict[str, Any]] = field(default_factory=list)
    """A message's finished content parts."""
    call_id: str = ""
    name: str = ""


class ResponseWriter:
    """The events of one response, in order, numbered by ``sequence_number`` (one per answer).

    Example:
        .. code-block:: python

            writer = ResponseWriter("plain", {})
            events = [*writer.start(), *writer.deltas({"content": "Hi"}), *writer.end(end)]
    """

    __slots__ = ("_calls", "_created", "_echo", "_id", "_items", "_model", "_open", "_seq")

    def __init__(self, model: str, echo: dict[str, Any]) -> None:
        self._id = f"resp_{uuid.uuid4().hex}"
        self._model = model
        self._echo = echo
        self._created = int(time.time())
        self._seq = 0
        self._items: list[dict[str, Any]] = []
        """Finished output items, by ``output_index``."""
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}
        """Chat tool-call index -> its item."""

    def start(self) -> list[dict[str, Any]]:
        """``response.created`` and ``response.in_progress``."""
        snapshot = self.response("in_progress", None, None, None)
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def deltas(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        """The events of one chat delta written by :class:`~.deltas.DeltaWriter`."""
        out: list[dict[str, Any]] = []
        reasoning = delta.get("reasoning_content")
        if reasoning:
            item = self._item("reasoning", out)
            item.pieces.append(reasoning)
            out.append(self._event("response.reasoning_text.delta", **self._at(item),
                                   content_index=0, delta=reasoning))  # fmt: skip
        text = delta.get("content")
        if text:
            item = self._item("message", out)
            item.pieces.append(text)
            out.append(self._event("response.output_text.delta", **self._at(item),
                                   content_index=0, delta=text, logprobs=[]))  # fmt: skip
        for call in delta.get("tool_calls", ()):
            function = call["function"]
            if "id" in call:  # a call's head: a new item
                self._close(out)
                item = self._new("function_call", "fc", out, call_id=call["id"],
                                 name=function["name"])  # fmt: skip
                self._calls[call["index"]] = item
                continue
            item = self._calls[call["index"]]
            item.pieces.append(function["arguments"])
            out.append(self._event("response.function_call_arguments.delta", **self._at(item),
                                   delta=function["arguments"]))  # fmt: skip
        return out

    def end(self, end: TurnEnd) -> list[dict[str, Any]]:
        """The refusal of a block, the items still open, and the final event."""
        out: list[dict[str, Any]] = []
        if end.blocked and end.refusal:
            item = self._open if self._open is not None and self._open.kind == "message" else None
            if item is None:
                self._close(out)
                item = self._new("message", "msg", out, part=False)
            else:
                self._close_part(item, out)
            part = {"type": "refusal", "refusal": ""}
            at = {**self._at(item), "content_index": len(item.parts)}
            out.append(self._event("response.content_part.added", **at, part=part))
            out.append(self._event("response.refusal.delta", **at, delta=end.refusal))
            out.append(self._event("response.refusal.done", **at, refusal=end.refusal))
            part = {"type": "refusal", "refusal": end.refusal}
            out.append(self._event("response.content_part.done", **at, part=part))
            item.parts.append(part)
            item.pieces.clear()
        self._close(out, "incomplete" if end.blocked else "completed")
        reason = _INCOMPLETE.get(end.finish_reason)
        response = self.response(
            "incomplete" if reason else "completed", reason, end.usage, end.guardrails
        )
        kind = "response.incomplete" if reason else "response.completed"
        out.append(self._event(kind, response=response))
        return out

    def failed(self, error: dict[str, Any]) -> list[dict[str, Any]]:
        """``response.failed`` for a turn that raised (``error``: an OpenAI error object)."""
        response = self.response("failed", None, None, None)
        response["error"] = {"code": "server_error", "message": error.get("message", "")}
        return [self._event("response.failed", response=response)]

    def error(self, code: str, message: str) -> dict[str, Any]:
        """The ``error`` event of a stream cut by the deadline or the drain: the next in the
        numbering, after the last event sent."""
        return self._event("error", code=code, message=message, param=None)

    def response(
        self,
        status: str,
        incomplete: str | None,
        usage: UsageMetadata | None,
        guardrails: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The ``response`` object with the items finished so far."""
        done = status in ("completed", "incomplete")
        body: dict[str, Any] = {
            "id": self._id,
            "object": "response",
            "created_at": self._created,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": self._model,
            "output": list(self._items) if done else [],
            "usage": response_usage(usage) if done else None,
            **self._echo,
        }
        if done:
            body["completed_at"] = int(time.time())
        if guardrails is not None:
            body["guardrails"] = guardrails
        return body

    # -- items ---------------------------------------------------------------------------------

    def _item(self, kind: str, out: list[dict[str, Any]]) -> _Item:
        item = self._open
        if item is not None and item.kind == kind:
            return item
        self._close(out)
        return self._new(kind, "msg" if kind == "message" else "rs", out)

    def _new(
        self, kind: str, prefix: str, out: list[dict[str, Any]], *, part: bool = True, **extra: Any
    ) -> _Item:
        item = self._open = _Item(kind, f"{prefix}_{uuid.uuid4().hex}", len(self._items), **extra)
        self._items.append({})  # its place in output, filled when it is done
        added = self._body(item, "in_progress")
        out.append(self._event("response.output_item.added", output_index=item.index, item=added))
        if kind != "function_call" and part:
            first = _part(kind, "")
            out.append(self._event("response.content_part.added", **self._at(item),
                                   content_index=0, part=first))  # fmt: skip
        return item

    def _close_part(self, item: _Item, out: list[dict[str, Any]]) -> None:
        text = "".join(item.pieces)
        at = {**self._at(item), "content_index": len(item.parts)}
        if item.kind == "message":
            out.append(self._event("response.output_text.done", **at, text=text, logprobs=[]))
        else:
            out.append(self._event("response.reasoning_text.done", **at, text=text))
        part = _part(item.kind, text)
        out.append(self._event("response.content_part.done", **at, part=part))
        item.parts.append(part)
        item.pieces.clear()

    def _close(self, out: list[dict[str, Any]], status: str = "completed") -> None:
        item, self._open = self._open, None
        if item is None:
            return
        if item.kind == "function_call":
            arguments = "".join(item.pieces)
            out.append(self._event("response.function_call_arguments.done", **self._at(item),
                                   arguments=arguments))  # fmt: skip
        elif item.pieces or not item.parts:
            self._close_part(item, out)
        body = self._body(item, status)
        self._items[item.index] = body
        out.append(self._event("response.output_item.done", output_index=item.index, item=body))

    def _body(self, item: _Item, status: str) -> dict[str, Any]:
        if item.kind == "function_call":
            arguments = "".join(item.pieces) if status != "in_progress" else ""
            return {"id": item.id, "type": "function_call", "status": status,
                    "call_id": item.call_id, "name": item.name, "arguments": arguments}  # fmt: skip
        content = list(item.parts) if status != "in_progress" else []
        if item.kind == "reasoning":
            return {"id": item.id, "type": "reasoning", "status": status, "summary": [],
                    "content": content}  # fmt: skip
        return {"id": item.id, "type": "message", "role": "assistant", "status": status,
                "content": content}  # fmt: skip

    def _at(self, item: _Item) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.index}

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event


def _part(kind: str, text: str) -> dict[str, Any]:
    if kind == "message":
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "reasoning_text", "text": text}


def response_usage(usage: UsageMetadata | None) -> dict[str, Any]:
    """LangChain ``usage_metadata`` as a Responses ``usage`` (zeros when none was reported)."""
    inputs = usage.get("input_token_details", {}) if usage else {}
    outputs = usage.get("output_token_details", {}) if usage else {}
    return {
        "input_tokens": usage["input_tokens"] if usage else 0,
        "input_tokens_details": {
            "cached_tokens": inputs.get("cache_read", 0),
            "cache_write_tokens": inputs.get("cache_creation", 0),
        },
        "output_tokens": usage["output_tokens"] if usage else 0,
        "output_tokens_details": {"reasoning_tokens": outputs.get("reasoning", 0)},
        "total_tokens": usage["total_tokens"] if usage else 0,
    }


__all__ = ["ResponseWriter", "response_usage", "sse"]
