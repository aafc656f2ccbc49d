"""Stands in for the main model when ``LLMRails.stream_async(generator=...)`` supplies the
tokens, so those tokens run through the same ``Guardrails`` stream (rails, windows, events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_guardrails.errors import ConfigError


class ExternalTokens(Runnable[Any, Any]):
    """Stands in for the main model when ``stream_async(generator=...)`` supplies the tokens.

    Streams the ``generator`` keyword argument as message chunks; everything else (rails
    calling ``llm``) goes to the main model.
    """

    guardrails_model = True
    """Accepted by ``Guardrails(llm=...)`` as a model (it streams message chunks)."""

    def __init__(self, model: Runnable[Any, Any] | None) -> None:
        self.model = model

    def _main(self) -> Runnable[Any, Any]:
        if self.model is None:
            raise ConfigError("a rail called the main model, but LLMRails has none configured")
        return self.model

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self.__dict__.get("model") is None:
            raise AttributeError(name)
        return getattr(self.__dict__["model"], name)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._main().invoke(input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._main().ainvoke(input, config, **kwargs)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self._main().stream(input, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        generator = kwargs.pop("generator", None)
        if generator is None:
            async for chunk in self._main().astream(input, config, **kwargs):
                yield chunk
            return
        try:
            async for token in generator:
                if isinstance(token, str):
                    yield AIMessageChunk(content=token)
                elif isinstance(token, AIMessageChunk):
                    yield token
                else:
                    raise TypeError(
                        f"stream_async(generator=...) yielded {type(token).__name__}; expected str"
                    )
        finally:
            await close(generator)


async def close(generator: Any) -> None:
    """``aclose`` an async iterator when it has one."""
    aclose = getattr(generator, "aclose", None)
    if aclose is not None:
        await aclose()
