"""The wrapped chat model's stream without its run bookkeeping, when nobody listens.

``BaseChatModel.astream`` keeps every chunk of the answer for its own ``on_llm_end``, even
with no callback handler at all, so a stream's memory grows with the answer (about 1.8 kB per
unit). When no handler listens to the guarded call, nothing would read that result: the guard
then calls the model's ``_astream`` itself and keeps memory bounded by its window. What
``astream`` does to each chunk that matters to the caller is kept: the response metadata
merged with the generation info, and the final ``chunk_position="last"`` marker. Usage is the
model's own (``stream_usage`` is a field of the model copy the guard streams).

Anything unusual (a ``stream``/``astream`` of its own, a rate limiter, ``output_version``
``v1``, callbacks on the model or its binding, streaming disabled) keeps the regular path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding

_STRUCTURED_KEYS = ("ls_structured_output_format", "structured_output_format")
"""Tracing-only kwargs ``astream`` takes off before calling ``_astream``."""


def direct_astream(
    model: Runnable[Any, Any], messages: list[BaseMessage], kwargs: Mapping[str, Any]
) -> AsyncIterator[AIMessageChunk] | None:
    """The stream of ``model`` on ``messages`` through its ``_astream``, or None when the
    regular ``astream`` must be used.

    Example:
        .. code-block:: python

            stream = direct_astream(model, messages, {}) or model.astream(messages)
    """
    bound: dict[str, Any] = {}
    inner = model
    while isinstance(inner, RunnableBinding):
        if inner.config or inner.config_factories:
            return None  # callbacks, tags or a configurable: the regular path honours them
        bound = {**inner.kwargs, **bound}
        inner = inner.bound
    if not isinstance(inner, BaseChatModel):
        return None
    cls = type(inner)
    if cls.astream is not BaseChatModel.astream or cls.stream is not BaseChatModel.stream:
        return None  # a model with its own streaming logic (a nested guard, for one)
    if inner.rate_limiter is not None or inner.callbacks or inner.output_version == "v1":
        return None
    call = {**bound, **kwargs}
    for key in _STRUCTURED_KEYS:
        call.pop(key, None)
    if not inner._should_stream(async_api=True, **{**call, "stream": True}):
        return None
    try:
        from langchain_core.language_models._utils import _normalize_messages
        from langchain_core.language_models.chat_models import _gen_info_and_msg_metadata
    except ImportError:  # a langchain-core without these helpers: the regular path
        return None
    stop = call.pop("stop", None)
    return _stream(inner, _normalize_messages(messages), stop, call, _gen_info_and_msg_metadata)


async def _stream(
    model: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: dict[str, Any],
    metadata_of: Any,
) -> AsyncIterator[AIMessageChunk]:
    message: Any = None
    async for chunk in model._astream(messages, stop=stop, **kwargs):
        message = chunk.message
        message.response_metadata = metadata_of(chunk)
        yield message
    if isinstance(message, AIMessageChunk) and not message.chunk_position:
        content: Any = "" if isinstance(message.content, str) else []
        yield AIMessageChunk(content=content, chunk_position="last")


__all__ = ["direct_astream"]
