"""`RunnableRails`: NeMo Guardrails' LangChain wrapper, built on :class:`Guardrails`.

NeMo code ports by changing the import::

    # from nemoguardrails.integrations.langchain.runnable_rails import RunnableRails
    from langchain_guardrails.nemo.runnable_rails import RunnableRails

    guardrails = RunnableRails(config)              # a RailsConfig
    chain_with_guardrails = prompt | (guardrails | model)
    rag_with_guardrails = guardrails | rag_chain    # a chain: input rails, chain, output rails

Output follows the input, as in NeMo: a string gives a string, messages and chat prompt
values give an ``AIMessage``, a dict gives ``{output_key: ...}``. Guarding a chain that returns
a dict keeps its other keys and replaces ``output_key`` by the guarded text. Streaming
applies the output rails per window, like :class:`Guardrails`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.prompt_values import StringPromptValue
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, PrivateAttr
from typing_extensions import override

from langchain_guardrails.config.rails_config import ConfigLike, RailsConfig, as_rails_config
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.llm.messages import to_messages
from langchain_guardrails.nemo.chain_model import CURRENT, ChainCall, ChainModel


def _is_model(other: Any) -> bool:
    if isinstance(other, BaseLanguageModel):
        return True
    return isinstance(other, RunnableBinding) and isinstance(other.bound, BaseLanguageModel)


class RunnableRails(RunnableSerializable[Any, Any]):
    """Input and output rails around a model or a chain, with NeMo's ``RunnableRails`` API.

    Example:
        .. code-block:: python

            from langchain_guardrails import RailsConfig
            from langchain_guardrails.nemo.runnable_rails import RunnableRails

            guardrails = RunnableRails(RailsConfig.from_path("./config"))
            chain = prompt | (guardrails | model)
            chain.invoke({"topic": "guardrails"})
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: RailsConfig
    llm: Runnable[Any, Any] | None = None
    runnable: Runnable[Any, Any] | None = None
    passthrough: bool = True
    input_key: str = "input"
    output_key: str = "output"

    _guard: Guardrails | None = PrivateAttr(default=None)

    def __init__(
        self,
        config: ConfigLike,
        llm: Runnable[Any, Any] | None = None,
        tools: list[Any] | None = None,
        passthrough: bool = True,
        runnable: Runnable[Any, Any] | None = None,
        input_key: str = "input",
        output_key: str = "output",
        verbose: bool = False,
        **kwargs: Any,
    ) -> None:
        """Wrap ``llm`` (or the config's ``main`` model) or ``runnable`` with the rails.

        ``passthrough`` is accepted for NeMo compatibility: without dialog rails every call
        goes straight to the model or chain. ``verbose`` is ignored.
        """
        config = as_rails_config(config)
        if tools:
            raise ValueError(
                "RunnableRails(tools=...) is not supported: NeMo registers tools as dialog "
                "actions; bind them to the model instead (llm.bind_tools([...]))"
            )
        super().__init__(
            config=config,
            llm=llm,
            runnable=runnable,
            passthrough=passthrough,
            input_key=input_key,
            output_key=output_key,
            **kwargs,
        )
        if runnable is not None:
            self._guard = Guardrails(llm=ChainModel(chain=runnable), config=config)
        elif llm is not None or config.main_model is not None:
            self._guard = Guardrails(llm=llm, config=config)

    def _with(self, **changes: Any) -> RunnableRails:
        fields = {
            "config": self.config,
            "llm": self.llm,
            "runnable": self.runnable,
            "passthrough": self.passthrough,
            "input_key": self.input_key,
            "output_key": self.output_key,
        }
        return RunnableRails(**{**fields, **changes})

    @override
    def __or__(self, other: Any) -> Runnable[Any, Any]:  # type: ignore[override]
        """``guardrails | model`` or ``guardrails | chain``: a new ``RunnableRails`` guarding
        it (``self`` is not changed); anything piped after that is an ordinary sequence.

        Example:
            .. code-block:: python

                guarded_model = guardrails | ChatOpenAI()
        """
        if self.llm is None and self.runnable is None:
            if _is_model(other):
                return self._with(llm=other)
            if isinstance(other, Runnable):
                return self._with(runnable=other)
        return super().__or__(other)

    # -- input and output shapes -------------------------------------------------------------

    def _messages(self, input: Any) -> list[BaseMessage]:
        if isinstance(input, dict):
            if self.input_key not in input:
                raise ValueError(
                    f"RunnableRails: the input dict has no key {self.input_key!r} (keys: "
                    f"{', '.join(sorted(map(str, input)))}); set input_key=..."
                )
            return to_messages(input[self.input_key])
        return to_messages(input)

    def _format(
        self, input: Any, message: AIMessage | AIMessageChunk, call: ChainCall | None
    ) -> Any:
        if call is not None and call.output_kind is not None:
            return _chain_output(call, message)
        text = message.text
        if isinstance(input, str | StringPromptValue):
            return text if not isinstance(message, AIMessageChunk) else message
        if isinstance(input, dict):
            user = input.get(self.input_key)
            if isinstance(user, str):
                return {self.output_key: text}
            if isinstance(user, list) and user and all(isinstance(m, dict) for m in user):
                return {self.output_key: {"role": "assistant", "content": text}}
            return {self.output_key: message}
        return message

    def _prepare(
        self, input: Any
    ) -> tuple[Guardrails, list[BaseMessage], contextvars.Context, ChainCall | None]:
        if self._guard is None:
            raise ValueError(
                "RunnableRails has no model: pass llm=..., add a `type: main` model to the "
                "config, or pipe one in (`guardrails | model`)"
            )
        messages = self._messages(input)
        context = contextvars.copy_context()
        call = None
        if self.runnable is not None:
            call = ChainCall(input=input, input_key=self.input_key, output_key=self.output_key)
            context.run(CURRENT.set, call)
        return self._guard, messages, context, call

    # -- calls ----------------------------------------------------------------------------------

    @override
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Guarded call; the output has the shape of the input (see the module docstring).

        Example:
            .. code-block:: python

                guardrails.invoke({"input": "Hi"})  # {"output": "Hello!"}
        """
        guard, messages, context, call = self._prepare(input)
        message = context.run(guard.invoke, messages, config, **kwargs)
        return self._format(input, message, call)

    @override
    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async twin of :meth:`invoke`.

        Example:
            .. code-block:: python

                await guardrails.ainvoke("Hi")  # "Hello!"
        """
        guard, messages, context, call = self._prepare(input)
        task = asyncio.create_task(guard.ainvoke(messages, config, **kwargs), context=context)
        return self._format(input, await task, call)

    @override
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Guarded chunks, shaped as NeMo's: ``AIMessageChunk``, ``str`` or ``{output_key: ...}``.

        Example:
            .. code-block:: python

                for chunk in guardrails.stream("Hi"):
                    print(chunk.content, end="")
        """
        guard, messages, context, _ = self._prepare(input)
        chunks = context.run(guard.stream, messages, config, **kwargs)
        try:
            while (chunk := context.run(next, chunks, None)) is not None:
                shaped = self._chunk(input, chunk)
                if shaped is not None:
                    yield shaped
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                context.run(close)

    @override
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async twin of :meth:`stream`.

        Example:
            .. code-block:: python

                async for chunk in guardrails.astream({"input": "Hi"}):
                    print(chunk["output"], end="")
        """
        guard, messages, context, _ = self._prepare(input)
        chunks = guard.astream(messages, config, **kwargs)
        try:
            while True:
                # Each step runs in the call's context, where the chain finds its input.
                step = asyncio.create_task(_next(chunks), context=context)
                chunk = await step
                if chunk is None:
                    return
                shaped = self._chunk(input, chunk)
                if shaped is not None:
                    yield shaped
        finally:
            await asyncio.create_task(_close(chunks), context=context)

    def _chunk(self, input: Any, chunk: AIMessageChunk) -> Any:
        """The chunk in NeMo's streaming shape; ``None`` for an empty text-only chunk (the
        final chunk's usage and metadata have no place in a string or a dict)."""
        if isinstance(input, StringPromptValue):
            return chunk.text or None
        if isinstance(input, dict):
            user = input.get(self.input_key)
            if isinstance(user, list) and user and all(isinstance(m, dict) for m in user):
                text = chunk.text
                return {self.output_key: {"role": "assistant", "content": text}} if text else None
            if isinstance(user, str) or self.runnable is not None:
                return {self.output_key: chunk.text} if chunk.text else None
            return {self.output_key: chunk}
        return chunk


async def _next(chunks: AsyncIterator[AIMessageChunk]) -> AIMessageChunk | None:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


async def _close(chunks: AsyncIterator[AIMessageChunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _chain_output(call: ChainCall, message: AIMessage | AIMessageChunk) -> Any:
    if call.output_kind == "str":
        return message.text
    if call.output_kind == "dict":
        return {**call.extra, call.output_key: message.text}
    return message


__all__ = ["RunnableRails"]
