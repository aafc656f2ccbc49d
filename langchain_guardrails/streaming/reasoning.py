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
    if value is not None:
        return reasoning_text(value)
    # OpenAI's Responses API: {"type": "reasoning", "summary": [{"text": ...}]}
    return reasoning_text(block.get("summary"))


def reasoning_text(value: Any) -> str:
    """The text of a ``reasoning_content`` value of any shape a provider sends: a string, an
    object holding its text (``{"text": ...}``, ``{"thinking": ...}``, ``{"reasoning": ...}``,
    ``{"content": ...}``, ``{"summary": [...]}``), or a list of such parts and strings.

    This is the one place reasoning text is extracted, so what is checked (and what ``strip``
    removes) is every shape, not just strings.

    Example:
        .. code-block:: python

            reasoning_text([{"text": "a "}, "b"])  # "a b"
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in _TEXT_KEYS:
            if key in value:
                return reasoning_text(value[key])
        return ""
    if isinstance(value, (list, tuple)):
        return "".join(reasoning_text(part) for part in value)
    return ""


_TEXT_KEYS = ("text", "thinking", "reasoning", "content", "summary")
"""Keys that hold the text of a reasoning object, in the order they are looked up."""


def kwarg_reasoning(chunk: Any) -> str:
    """The text of ``additional_kwargs["reasoning_content"]``, whatever its shape."""
    extra = chunk.additional_kwargs
    if not extra:
        return ""
    value = extra.get(REASONING_KWARG)
    if value is None:
        return ""
    return value if value.__class__ is str else reasoning_text(value)


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
    "reasoning_text",
    "strip_reasoning",
    "without_reasoning",
]
