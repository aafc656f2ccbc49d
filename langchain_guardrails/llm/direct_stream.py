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
from contextlib import aclosing
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding

_STRUCTURED_KEYS = ("ls_structured_output_format", "structured_output_format")
"""Tracing-only kwargs ``astream`` takes off before calling ``_astream``."""


def direct_astream(
    model: Runnable[Any, Any],
    messages: list[BaseMessage],
    kwargs: Mapping[str, Any],
    callbacks: AsyncCallbackManager | None = None,
    tags: list[str] | None = None,
    message_id: str | None = None,
) -> AsyncIterator[AIMessageChunk] | None:
    """The stream of ``model`` on ``messages`` through its ``_astream``, or None when the
    regular ``astream`` must be used.

    With ``callbacks`` (the relays of the guarded call's handlers), the model's run is reported
    on them as ``astream`` would (start, then end with the merged answer and its usage, or the
    error), but without a callback per token: relays drop the wrapped model's tokens anyway
    (the guarded run streams what is released), and two dispatches per token would double the
    cost of streaming to a tracer.

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
    stream = _stream(inner, _normalize_messages(messages), stop, call, _gen_info_and_msg_metadata)
    if callbacks is None:
        return stream
    # ``stop`` travels on its own (bound or given at call time, it is one argument): left in
    # the kwargs too, every ``stop=stop, **kwargs`` call below would get it twice.
    observed = {key: value for key, value in {**bound, **kwargs}.items() if key != "stop"}
    return _observed(inner, messages, stop, observed, callbacks, tags, stream, message_id)


async def _observed(
    model: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: dict[str, Any],
    callbacks: AsyncCallbackManager,
    tags: list[str] | None,
    stream: AsyncIterator[AIMessageChunk],
    message_id: str | None,
) -> AsyncIterator[AIMessageChunk]:
    """``stream`` reported as the model's own run on ``callbacks`` (start / end / error)."""
    from langchain_core.callbacks import AsyncCallbackManager
    from langchain_core.outputs.chat_generation import merge_chat_generation_chunks

    from langchain_guardrails.llm.callback_relay import hooks_suppressed

    structured = next((kwargs.pop(k) for k in _STRUCTURED_KEYS if k in kwargs), None)
    params = model._get_invocation_params(stop=stop, **kwargs)
    options: dict[str, Any] = {"stop": stop, **{k: params[k] for k in kwargs if k in params}}
    if structured is not None:
        options["ls_structured_output_format"] = structured
    with hooks_suppressed():  # our relays stand in for context-registered handlers
        manager = AsyncCallbackManager.configure(
            callbacks,
            None,
            model.verbose,
            tags,
            model.tags,
            dict(model._get_ls_params(stop=stop, **kwargs)),
            model.metadata,
        )
    (run,) = await manager.on_chat_model_start(
        model._serialized, [messages], invocation_params=params, options=options, batch_size=1
    )
    # The guard's message id when given: the answer has one id from model to caller.
    own_id = message_id or f"lc_run--{run.run_id}"
    answer = _Answer()
    try:
        async with aclosing(stream) as messages_:  # type: ignore[type-var]
            async for message in messages_:
                if message.id is None:
                    message.id = own_id
                answer.add(message)
                yield message
    except BaseException as error:
        await run.on_llm_error(error, response=answer.result(merge_chat_generation_chunks))
        raise
    await run.on_llm_end(answer.result(merge_chat_generation_chunks))


class _Answer:
    """The model run's result, built as chunks pass: plain-text answers by joining their text
    (one merge of thousands of chunks would cost as much as the stream itself), anything else
    (content blocks, tool-call deltas) by LangChain's own merge."""

    __slots__ = ("chunks", "last", "parts", "plain")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.chunks: list[AIMessageChunk] = []
        self.plain = True
        self.last: AIMessageChunk | None = None

    def add(self, message: AIMessageChunk) -> None:
        self.chunks.append(message)
        if self.plain and (
            message.content.__class__ is not str
            or message.tool_call_chunks
            or "logprobs" in message.response_metadata  # lists that merge, not replace
        ):
            self.plain = False
        self.last = message

    def result(self, merge: Any) -> Any:
        from langchain_core.messages.ai import add_usage
        from langchain_core.outputs import ChatGenerationChunk, LLMResult

        if not self.chunks:
            return LLMResult(generations=[])
        if not self.plain:
            merged = merge([ChatGenerationChunk(message=c) for c in self.chunks])
            return LLMResult(generations=[[merged]])
        usage = None
        metadata: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for chunk in self.chunks:
            if chunk.usage_metadata is not None:
                usage = (
                    chunk.usage_metadata
                    if usage is None
                    else add_usage(usage, chunk.usage_metadata)
                )
            if chunk.response_metadata:
                metadata.update(chunk.response_metadata)
            if chunk.additional_kwargs:
                extra.update(chunk.additional_kwargs)
        message = AIMessageChunk(
            content="".join(cast(str, c.content) for c in self.chunks),
            usage_metadata=usage,
            response_metadata=metadata,
            additional_kwargs=extra,
            id=self.chunks[0].id,
            chunk_position="last",
        )
        return LLMResult(generations=[[ChatGenerationChunk(message=message)]])


async def _stream(
    model: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: dict[str, Any],
    metadata_of: Any,
) -> AsyncIterator[AIMessageChunk]:
    message: Any = None
    # Closed explicitly: a guard that stops the stream (a block) stops generation now, not
    # when the generator is collected.
    async with aclosing(model._astream(messages, stop=stop, **kwargs)) as chunks:  # type: ignore[type-var]
        async for chunk in chunks:
            message = chunk.message
            message.response_metadata = metadata_of(chunk)
            yield message
    if isinstance(message, AIMessageChunk) and not message.chunk_position:
        content: Any = "" if isinstance(message.content, str) else []
        yield AIMessageChunk(content=content, chunk_position="last")


__all__ = ["direct_astream"]
