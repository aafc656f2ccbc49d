"""A chain seen as a chat model, so that ``Guardrails`` can guard it (``RunnableRails``).

``Guardrails`` hands its model the conversation as messages; a guarded chain wants its own
input (a dict with ``input_key``, or a string). The call's original input travels in a
context variable set by ``RunnableRails`` for that one call (never on a shared object); the
chain gets it back with the user text as the input rails left it (masking included). The
chain's output (strings, messages, or dicts holding ``output_key``) is turned into message
chunks; the other keys of a dict output are kept for the caller.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import ConfigDict
from typing_extensions import override

from langchain_guardrails.llm.messages import last_user_text


@dataclass
class ChainCall:
    """One ``RunnableRails`` call of a chain: its input, and the chain's output shape."""

    input: Any
    input_key: str
    output_key: str
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys of a dict output other than ``output_key``, merged over the stream."""
    output_kind: str | None = None
    """``"str"``, ``"message"`` or ``"dict"``: what the chain returned."""


CURRENT: contextvars.ContextVar[ChainCall | None] = contextvars.ContextVar(
    "langchain_guardrails_chain_call", default=None
)


def _call() -> ChainCall:
    call = CURRENT.get()
    if call is None:
        raise RuntimeError("a guarded chain runs only through RunnableRails")
    return call


def chain_input(call: ChainCall, messages: list[BaseMessage]) -> Any:
    """The chain's input: the original, with the user text the input rails passed on."""
    text = last_user_text(messages)
    original = call.input
    if isinstance(original, str):
        return text
    if isinstance(original, dict) and isinstance(original.get(call.input_key), str):
        return {**original, call.input_key: text}
    return original


def to_chunk(call: ChainCall, value: Any) -> AIMessageChunk | None:
    """A piece of the chain's output as a message chunk (``None``: nothing to say)."""
    if isinstance(value, str):
        call.output_kind = call.output_kind or "str"
        return AIMessageChunk(content=value)
    if isinstance(value, AIMessageChunk):
        call.output_kind = call.output_kind or "message"
        return value
    if isinstance(value, BaseMessage | BaseMessageChunk):
        call.output_kind = call.output_kind or "message"
        tool_calls = value.tool_calls if isinstance(value, AIMessage) else []
        return AIMessageChunk(content=value.content, tool_calls=tool_calls)
    if isinstance(value, dict):
        call.output_kind = "dict"
        for key, item in value.items():
            if key == call.output_key:
                continue
            before = call.extra.get(key)
            both_text = isinstance(before, str) and isinstance(item, str)
            call.extra[key] = before + item if both_text else item
        if call.output_key not in value:
            return None
        inner = to_chunk(call, value[call.output_key])
        call.output_kind = "dict"
        return inner
    raise TypeError(
        f"RunnableRails: the chain returned {type(value).__name__}; expected a string, a "
        f"message, or a dict with the output key {call.output_key!r}"
    )


class ChainModel(RunnableSerializable[Any, BaseMessage]):
    """Runs ``chain`` for the current :class:`ChainCall`; yields its output as chunks.

    Example:
        .. code-block:: python

            guarded = Guardrails(llm=ChainModel(chain=rag_chain), config=config)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    guardrails_model: ClassVar[bool] = True
    """Lets ``Guardrails`` guard it as a chat model (it streams message chunks)."""

    chain: Runnable[Any, Any]
    """The guarded chain."""

    @override
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessage:
        call = _call()
        chunks = [
            c for c in self._chunks(call, self.chain.stream(chain_input(call, input), config))
        ]
        return _join(chunks)

    @override
    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AIMessage:
        call = _call()
        stream = self.chain.astream(chain_input(call, input), config)
        return _join([c async for c in self._achunks(call, stream)])

    @override
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        call = _call()
        yield from self._chunks(call, self.chain.stream(chain_input(call, input), config))

    @override
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        call = _call()
        async for chunk in self._achunks(
            call, self.chain.astream(chain_input(call, input), config)
        ):
            yield chunk

    @staticmethod
    def _chunks(call: ChainCall, source: Iterator[Any]) -> Iterator[AIMessageChunk]:
        for value in source:
            chunk = to_chunk(call, value)
            if chunk is not None:
                yield chunk

    @staticmethod
    async def _achunks(
        call: ChainCall, source: AsyncIterator[Any]
    ) -> AsyncIterator[AIMessageChunk]:
        async for value in source:
            chunk = to_chunk(call, value)
            if chunk is not None:
                yield chunk


def _join(chunks: list[AIMessageChunk]) -> AIMessage:
    if not chunks:
        return AIMessage(content="")
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return AIMessage(content=total.content, tool_calls=total.tool_calls)


__all__ = ["CURRENT", "ChainCall", "ChainModel", "chain_input", "to_chunk"]
