"""`LazyChatModel`: a chat model built on its first call.

Provider clients (``ChatOpenAI``, ``ChatAnthropic``, ...) read their credentials when they are
constructed. A config folder names models that may never be called in a given process
(``langchain-guardrails check`` of input rails only, a server that has not served a request
yet), so the engines of :mod:`~langchain_guardrails.llm.registry` validate the entry at once
(engine known, package installed, URL present) and build the client only when it is first
used. Every call is then forwarded to that client, which runs its own callbacks, usage and
tracing as if it had been called directly.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, ClassVar

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, Field, PrivateAttr
from typing_extensions import override

Builder = Callable[[], Runnable[Any, Any]]


class LazyChatModel(RunnableSerializable[LanguageModelInput, BaseMessage]):
    """A chat model whose provider client is built on its first call and then reused.

    Example:
        .. code-block:: python

            from langchain_openai import ChatOpenAI

            llm = LazyChatModel(
                build=lambda: ChatOpenAI(model="gpt-4o-mini"),
                provider="openai",
                model_name="gpt-4o-mini",
            )
            llm.invoke("Hi")  # ChatOpenAI is created (and reads OPENAI_API_KEY) here
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    guardrails_model: ClassVar[bool] = True
    """Lets ``Guardrails`` guard it as a chat model (it streams message chunks)."""

    build: Builder = Field(exclude=True)
    """Creates the provider client; may raise (missing credentials) at the first call."""
    provider: str
    """The engine name, reported as ``ls_provider`` (prompt choice by model)."""
    model_name: str | None = None
    """The provider model name, reported as ``ls_model_name`` and used by usage handlers."""
    stream_usage: bool | None = None
    """Set on a copy by ``Guardrails``; passed on to a client that has that field."""

    # Shared by copies of this object (``model_copy``): one client per ``stream_usage``
    # value, created once under the lock.
    _clients: dict[bool, Runnable[Any, Any]] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def client(self) -> Runnable[Any, Any]:
        """The provider client (built now if this is the first use).

        Example:
            .. code-block:: python

                llm.client.model_name
        """
        key = bool(self.stream_usage)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self.build()
                fields = getattr(type(client), "model_fields", {})
                if key and "stream_usage" in fields:
                    client = client.model_copy(update={"stream_usage": True})  # type: ignore[attr-defined]
                self._clients[key] = client
        return client

    def _get_ls_params(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # Read by prompt choice without building the client (no credentials needed).
        return {"ls_provider": self.provider, "ls_model_name": self.model_name}

    @property
    @override
    def InputType(self) -> Any:
        return LanguageModelInput

    @property
    @override
    def OutputType(self) -> Any:
        return BaseMessage

    @override
    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        """Forward to the client's ``invoke``.

        Example:
            .. code-block:: python

                llm.invoke("Hi").content
        """
        return self.client.invoke(input, config, **kwargs)  # type: ignore[no-any-return]

    @override
    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        """Forward to the client's ``ainvoke``.

        Example:
            .. code-block:: python

                (await llm.ainvoke("Hi")).content
        """
        return await self.client.ainvoke(input, config, **kwargs)  # type: ignore[no-any-return]

    @override
    def stream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[BaseMessageChunk]:
        """Forward to the client's ``stream``.

        Example:
            .. code-block:: python

                for chunk in llm.stream("Hi"):
                    print(chunk.content, end="")
        """
        yield from self.client.stream(input, config, **kwargs)

    @override
    async def astream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessageChunk]:
        """Forward to the client's ``astream``.

        Example:
            .. code-block:: python

                async for chunk in llm.astream("Hi"):
                    print(chunk.content, end="")
        """
        async for chunk in self.client.astream(input, config, **kwargs):
            yield chunk

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        """The client's ``bind_tools`` (builds the client).

        Example:
            .. code-block:: python

                llm.bind_tools([get_weather])
        """
        return self.client.bind_tools(tools, **kwargs)  # type: ignore[attr-defined,no-any-return]

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable[Any, Any]:
        """The client's ``with_structured_output`` (builds the client).

        Example:
            .. code-block:: python

                llm.with_structured_output(Answer)
        """
        return self.client.with_structured_output(schema, **kwargs)  # type: ignore[attr-defined,no-any-return]


__all__ = ["Builder", "LazyChatModel"]
