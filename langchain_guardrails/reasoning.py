"""The model's reasoning channel: where it travels in a chunk, its text, and how to strip it.

Providers put reasoning in content blocks (``{"type": "reasoning", "reasoning": ...}``,
Anthropic's ``{"type": "thinking", "thinking": ...}``) or in
``additional_kwargs["reasoning_content"]`` (DeepSeek, vLLM, OpenAI-compatible servers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, TypeVar

from langchain_core.messages import AIMessageChunk, BaseMessage

M = TypeVar("M", bound=BaseMessage)

REASONING_BLOCKS = {"reasoning": "reasoning", "thinking": "thinking"}
"""Content block type -> the key holding its text."""
REASONING_KWARG = "reasoning_content"


def block_reasoning(block: Any) -> str | None:
    """The reasoning text of one content block, or None when it is not a reasoning block."""
    if not isinstance(block, dict):
        return None
    key = REASONING_BLOCKS.get(block.get("type", ""))
    if key is None:
        return None
    value = block.get(key)
    if isinstance(value, str):
        return value
    # OpenAI's Responses API: {"type": "reasoning", "summary": [{"text": ...}]}
    summary = block.get("summary")
    if isinstance(summary, list):
        return "".join(s.get("text", "") for s in summary if isinstance(s, dict))
    return ""


def kwarg_reasoning(chunk: Any) -> str:
    """``additional_kwargs["reasoning_content"]`` when it is text."""
    extra = chunk.additional_kwargs
    if not extra:
        return ""
    value = extra.get(REASONING_KWARG)
    return value if isinstance(value, str) else ""


def without_reasoning(chunk: M) -> M:
    """``chunk`` (a message or chunk) without reasoning blocks and ``reasoning_content``."""
    update: dict[str, Any] = {}
    content = chunk.content
    if content.__class__ is not str and any(block_reasoning(b) is not None for b in content):
        update["content"] = [b for b in content if block_reasoning(b) is None]
    extra = chunk.additional_kwargs
    if extra and REASONING_KWARG in extra:
        update["additional_kwargs"] = {k: v for k, v in extra.items() if k != REASONING_KWARG}
    return chunk.model_copy(update=update) if update else chunk


async def strip_reasoning(source: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """``source`` with no reasoning left in any chunk (``rails.output.reasoning: strip``)."""
    async with aclosing(source) as stream:  # type: ignore[type-var]
        async for chunk in stream:
            if isinstance(chunk, AIMessageChunk):
                chunk = without_reasoning(chunk)
            yield chunk


__all__ = [
    "REASONING_BLOCKS",
    "REASONING_KWARG",
    "block_reasoning",
    "kwarg_reasoning",
    "strip_reasoning",
    "without_reasoning",
]
