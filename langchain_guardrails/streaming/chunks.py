"""Per-chunk helpers of a guarded stream: text of a chunk, usage accounting, passthrough.

What a stream used and how it ended lives in :class:`StreamTally`, one per call; usage and the
end marker are taken off the chunks that carry them and put on the final chunk, once.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, cast

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata, add_usage

from langchain_guardrails.engine.rail_engine import Decision
from langchain_guardrails.streaming.reasoning import block_reasoning, kwarg_reasoning


class StreamTally:
    """What one stream used and how it ended; shared with the callback relays."""

    __slots__ = (
        "blocked",
        "estimate_input_tokens",
        "list_content",
        "model_name",
        "stopped",
        "units",
        "usage",
        "windows",
    )

    def __init__(self, model_name: str | None = None) -> None:
        self.usage: UsageMetadata | None = None
        self.units = 0
        self.windows = 0
        self.blocked: Decision | None = None
        self.stopped = False
        """True once we closed the model stream ourselves (a block)."""
        self.list_content = False
        self.model_name = model_name
        self.estimate_input_tokens: Callable[[], int] | None = None
        """Prompt tokens when a stopped stream never got the provider's count (per stream,
        offline: see :mod:`langchain_guardrails.observability.usage`)."""

    def absorb(self, chunk: Any) -> AIMessageChunk:
        """Take usage and the end marker off a chunk: they go on the final chunk, once."""
        if chunk.__class__ is not AIMessageChunk:
            chunk = as_chunk(chunk)
        usage = chunk.usage_metadata
        if usage is None and chunk.chunk_position is None:
            return cast(AIMessageChunk, chunk)
        if usage is not None:
            self.usage = usage if self.usage is None else add_usage(self.usage, usage)
        return cast(
            AIMessageChunk,
            chunk.model_copy(update={"usage_metadata": None, "chunk_position": None}),
        )

    def stop_usage(self) -> UsageMetadata | None:
        """Usage up to a block: what the provider reported, with the completion units received
        counted as output tokens and the prompt tokens estimated when the provider had not
        reported them yet."""
        usage = self.usage
        if usage is None and self.units == 0:
            return None
        inputs = usage["input_tokens"] if usage else 0
        if not inputs and self.estimate_input_tokens is not None:
            inputs = self.estimate_input_tokens()
        outputs = usage["output_tokens"] if usage and usage["output_tokens"] else self.units
        self.usage = UsageMetadata(
            input_tokens=inputs, output_tokens=outputs, total_tokens=inputs + outputs
        )
        return self.usage


def as_chunk(message: Any) -> AIMessageChunk:
    """An ``AIMessageChunk`` for whatever a model stream yields (chunk, message or string)."""
    if isinstance(message, AIMessageChunk):
        return message
    if isinstance(message, str):
        return AIMessageChunk(content=message)
    if isinstance(message, BaseMessage):
        data = {
            k: v
            for k, v in message.__dict__.items()
            if k in AIMessageChunk.model_fields and k not in ("type", "tool_calls")
        }
        return AIMessageChunk(**data)
    raise TypeError(f"model stream yielded {type(message).__name__}; expected a message chunk")


def content_text(content: Any) -> str:
    """Text of a message content: a string, or the text blocks of a content-block list."""
    if isinstance(content, str):
        return content
    return split_content(content, False)[0]


def split_content(content: Any, reasoning: bool) -> tuple[str, str]:
    """The answer text and (when ``reasoning``) the reasoning text of a content-block list:
    two channels, each windowed on its own (never one interleaved into the other)."""
    parts: list[str] = []
    thoughts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict):
            if block.get("type") == "text":
                parts.append(block.get("text", ""))
            elif reasoning and (thought := block_reasoning(block)) is not None:
                thoughts.append(thought)
    return "".join(parts), "".join(thoughts)


def channel_texts(chunk: Any, reasoning: bool) -> tuple[str, str]:
    """The two texts of one chunk that rails check: its answer text, and its reasoning text
    when ``reasoning`` (``rails.output.reasoning: check``; else always "")."""
    content = chunk.content
    if content.__class__ is str:
        text, thought = content, ""
    else:
        text, thought = split_content(content, reasoning)
    if reasoning and chunk.additional_kwargs:
        thought = kwarg_reasoning(chunk) + thought
    return text, thought


async def passthrough(
    source: AsyncIterator[Any], tally: StreamTally
) -> AsyncGenerator[AIMessageChunk, None]:
    """No output rails: release every chunk at once, keeping usage for the final chunk."""
    units = 0
    async for chunk in source:
        content = chunk.content
        if content.__class__ is not str:
            tally.list_content = True
            content = content_text(content)
        if (
            chunk.usage_metadata is not None
            or chunk.__class__ is not AIMessageChunk
            or chunk.chunk_position is not None
        ):
            chunk = tally.absorb(chunk)
        if content:
            units += 1
        yield chunk
    tally.units = units
