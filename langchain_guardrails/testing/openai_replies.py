"""Scripted replies of the fake OpenAI-compatible server, and the wire bodies they become.

A :class:`FakeReply` is one assistant turn: text (streamed as given chunks or as word units),
``reasoning_content``, tool calls in OpenAI's framing, or raw ``delta`` objects for upstreams that
frame things their own way (or send malformed chunks). It knows nothing of HTTP, so the same
bodies can be checked against in a test without a socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from langchain_guardrails.testing.chat_models import split_units

COMPLETION_ID = "chatcmpl-fake"
"""The ``id`` of every completion the fake server sends (tests compare bodies, not ids)."""

ARGUMENT_PIECE = 6
"""Characters of tool-call arguments per streamed delta: small, so clients must join pieces."""


@dataclass(frozen=True)
class FakeReply:
    """One scripted assistant turn.

    Streamed, the turn is: a role chunk, one chunk per ``reasoning`` unit
    (``delta.reasoning_content``), one per content chunk, then each tool call as a head (id,
    name, empty arguments) followed by argument pieces of six characters, then the finish chunk,
    a usage chunk when the request asked for it (``stream_options.include_usage``), and
    ``[DONE]``. Whole (``stream: false``), it is one ``chat.completion`` with the same text,
    reasoning and tool calls.

    Example:
        .. code-block:: python

            FakeReply(text="Paris is the capital.")  # streamed word by word
            FakeReply(chunks=["Par", "is."])  # streamed exactly as these chunks
            FakeReply(tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "c1"}])
    """

    text: str = ""
    """The answer text; streamed as word units (each keeps its trailing whitespace)."""
    chunks: Sequence[str] | None = None
    """The exact content chunks to stream, instead of splitting ``text`` (which is ignored)."""
    reasoning: str = ""
    """Text streamed as ``reasoning_content`` deltas before the answer (vLLM, DeepSeek style)."""
    tool_calls: Sequence[Mapping[str, Any]] = ()
    """LangChain-shaped calls ``{"name", "args", "id"}``; ``args`` given as a string is the raw
    argument text, sent as is (so a test can send invalid JSON)."""
    deltas: Sequence[Any] | None = None
    """Raw ``delta`` objects streamed instead of the ones the fields above make: for upstreams
    that frame tool calls their own way, or send malformed chunks. Whole replies ignore them."""
    delay: float | None = None
    """Seconds before each scripted chunk; ``None`` takes the server's ``delay``."""
    usage: Mapping[str, int] | None = None
    """The ``usage`` object to report instead of the computed one."""

    @property
    def content(self) -> str:
        """The whole answer text."""
        return "".join(self.chunks) if self.chunks is not None else self.text

    def content_chunks(self) -> list[str]:
        """The content pieces a stream carries, in order."""
        return list(self.chunks) if self.chunks is not None else split_units(self.text)

    @property
    def finish_reason(self) -> str:
        """``tool_calls`` when the turn calls tools, else ``stop``."""
        return "tool_calls" if self.tool_calls and self.deltas is None else "stop"

    def completion_tokens(self) -> int:
        """One token per content chunk and per tool call (per raw delta when scripted so)."""
        if self.deltas is not None:
            return len(self.deltas)
        return len(self.content_chunks()) + len(self.tool_calls)

    def scripted_deltas(self) -> Iterator[Any]:
        """The ``delta`` objects between the role chunk and the finish chunk."""
        if self.deltas is not None:
            yield from self.deltas
            return
        for part in split_units(self.reasoning):
            yield {"reasoning_content": part}
        for part in self.content_chunks():
            yield {"content": part}
        for index, call in enumerate(self.tool_calls):
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["name"], "arguments": ""}}  # fmt: skip
            yield {"tool_calls": [head]}
            args = raw_arguments(call["args"])
            for at in range(0, len(args), ARGUMENT_PIECE):
                piece = {"index": index, "function": {"arguments": args[at : at + ARGUMENT_PIECE]}}
                yield {"tool_calls": [piece]}

    def stream(
        self, model: str, usage: Mapping[str, int] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The ``chat.completion.chunk`` bodies of this turn, without ``[DONE]``.

        Args:
            model: The ``model`` field of every chunk.
            usage: When given, a last chunk with no choices carries it (as OpenAI does when
                ``stream_options.include_usage`` is set).
        """
        yield chunk_body(model, {"role": "assistant", "content": ""})
        for delta in self.scripted_deltas():
            yield chunk_body(model, delta)
        yield chunk_body(model, {}, self.finish_reason)
        if usage is not None:
            yield chunk_body(model, None, usage=dict(usage))

    def completion(self, model: str, usage: Mapping[str, int]) -> dict[str, Any]:
        """The ``chat.completion`` body of this turn."""
        content = self.content
        message: dict[str, Any] = {
            "role": "assistant",
            # OpenAI sends null content for a turn that only calls tools.
            "content": content or (None if self.tool_calls else ""),
        }
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": raw_arguments(call["args"])},
                }
                for call in self.tool_calls
            ]
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {"id": COMPLETION_ID, "object": "chat.completion", "created": 0, "model": model,
                "choices": [choice], "usage": dict(usage)}  # fmt: skip


ReplyLike: TypeAlias = str | Sequence[str] | FakeReply | Sequence[FakeReply]
"""What a script accepts for a model: a text (streamed word by word), a list of exact chunks,
one :class:`FakeReply`, or a list of them (turn *k* answers a request holding *k* assistant
messages, so an agent loop walks the script; the last one repeats)."""


def as_turns(reply: ReplyLike) -> tuple[FakeReply, ...]:
    """Normalise a :data:`ReplyLike` into the turns it scripts."""
    if isinstance(reply, FakeReply):
        return (reply,)
    if isinstance(reply, str):
        return (FakeReply(text=reply),)
    items = list(reply)
    if all(isinstance(item, str) for item in items):
        return (FakeReply(chunks=tuple(str(item) for item in items)),)
    if all(isinstance(item, FakeReply) for item in items):
        return tuple(item for item in items if isinstance(item, FakeReply))
    raise TypeError(
        "a scripted reply is a str, a list of str chunks, a FakeReply or a list of FakeReply; "
        f"got a list mixing {sorted({type(item).__name__ for item in items})}"
    )


def raw_arguments(args: Any) -> str:
    """The argument text of a scripted call: a string as is, anything else as JSON."""
    return args if isinstance(args, str) else json.dumps(args)


def chunk_body(
    model: str, delta: Any, finish_reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` makes a chunk without choices."""
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    return {"id": COMPLETION_ID, "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": choices, **extra}  # fmt: skip


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a request message: a string, or the text parts of a content list."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def usage_of(
    body: Mapping[str, Any], reply: FakeReply, prompt_tokens: int | None
) -> dict[str, int]:
    """The usage to report: ``reply.usage``, else prompt tokens (``prompt_tokens``, or the words
    of all request messages) and :meth:`FakeReply.completion_tokens`."""
    if reply.usage is not None:
        return dict(reply.usage)
    if prompt_tokens is None:
        messages = body.get("messages") or []
        prompt_tokens = sum(
            len(message_text(m).split()) for m in messages if isinstance(m, Mapping)
        )
    completion = reply.completion_tokens()
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
