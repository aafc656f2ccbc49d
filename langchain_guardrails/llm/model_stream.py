"""The guarded model: how it is chosen and prepared, and how its stream is entered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import aclosing
from typing import Any, cast

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import Runnable, RunnableBinding

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.llm.callback_relay import hooks_suppressed


def with_stream_usage(llm: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """A copy of ``llm`` with ``stream_usage=True`` where it has that field (also through
    ``bind(...)`` / ``bind_tools(...)`` bindings); ``llm`` itself is never modified."""
    if isinstance(llm, RunnableBinding):
        bound = with_stream_usage(llm.bound)
        return llm if bound is llm.bound else llm.model_copy(update={"bound": bound})
    fields = getattr(type(llm), "model_fields", {})
    if "stream_usage" in fields and getattr(llm, "stream_usage", None) is not True:
        return cast("Runnable[Any, Any]", llm.model_copy(update={"stream_usage": True}))  # type: ignore[attr-defined]
    return llm


def main_model(config: RailsConfig) -> Runnable[Any, Any]:
    main = config.main_model
    if main is None:
        raise ConfigError(
            "Guardrails needs a model: pass llm=..., or add a `models` entry with `type: main`"
        )
    from langchain_guardrails.llm import build_model

    return build_model(main, config.config_path)


def model_name(llm: Runnable[Any, Any]) -> str | None:
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(llm, attribute, None)
        if isinstance(value, str):
            return value
    return None


def first_step_without_hooks(source: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The model configures its callbacks on the first step: our relays stand in for the
    context-registered handlers there, so LangChain must not add the raw ones again (nor the
    handlers of the caller's context config). Later steps go straight to ``source``."""
    return _FirstStepIsolated(source)


class _FirstStepIsolated:
    """An iterator over ``source`` whose first step runs with hooks suppressed; every later
    ``__anext__`` is the source's own awaitable (no extra frame per chunk)."""

    __slots__ = ("_first", "_source")

    def __init__(self, source: AsyncIterator[Any]) -> None:
        self._source = source
        self._first = True

    def __aiter__(self) -> _FirstStepIsolated:
        return self

    def __anext__(self) -> Awaitable[Any]:
        if self._first:
            self._first = False
            return self._first_step()
        return self._source.__anext__()

    async def _first_step(self) -> Any:
        with hooks_suppressed():
            return await self._source.__anext__()

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


async def text_chunks(source: AsyncIterator[Any]) -> AsyncIterator[AIMessageChunk]:
    async with aclosing(source) as stream:  # type: ignore[type-var]
        async for text in stream:
            yield AIMessageChunk(content=text) if isinstance(text, str) else text
