"""Keyword arguments bound to the wrapped model (``bind``, ``bind_tools``) and given at call time
reach it exactly once, with the call's value winning, on every method and both stream paths
(the direct ``_astream`` fast path and LangChain's ``astream``), with and without a listener.

Issue 20 item 9: ``Guardrails(llm=model.bind(stop=["x"]))`` with any callback raised
``TypeError: _get_invocation_params() got multiple values for keyword argument 'stop'``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import tool

from langchain_guardrails import Guardrails
from langchain_guardrails.guard import pipeline as runnable_module
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn

from .configs import rails_config

ANSWER = "Paris is the capital of France."


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "type": "object",
        },
    },
}
JSON_FORMAT = {"type": "json_object"}

# How the wrapped model is bound: the binding, and the kwargs (``stop`` included) it adds.
BOUND: dict[str, tuple[Any, dict[str, Any]]] = {
    "nothing": (lambda m: m, {}),
    "stop": (lambda m: m.bind(stop=["x"]), {"stop": ["x"]}),
    "provider kwarg": (lambda m: m.bind(temperature=0.2), {"temperature": 0.2}),
    "bind_tools": (lambda m: m.bind_tools([weather]), {"tools": [WEATHER_TOOL]}),
    "bind_tools tool_choice": (
        lambda m: m.bind_tools([weather], tool_choice="weather").bind(stop=["x"]),
        {"tools": [WEATHER_TOOL], "tool_choice": "weather", "stop": ["x"]},
    ),
    "response_format": (
        lambda m: m.bind(response_format=JSON_FORMAT, stop=["x"]),
        {"response_format": JSON_FORMAT, "stop": ["x"]},
    ),
}

# What the call adds: keyword arguments, and the config (callbacks are added per test).
CALLS: dict[str, tuple[dict[str, Any], RunnableConfig]] = {
    "nothing": ({}, {}),
    "stop": ({"stop": ["y"]}, {}),
    "provider kwarg": ({"temperature": 0.7, "stop": ["y"]}, {}),
    "tool_choice": ({"tool_choice": "none"}, {}),
    "response_format": ({"response_format": {"type": "text"}}, {}),
    "tags and metadata": ({"stop": ["y"]}, {"tags": ["t"], "metadata": {"user": "ann"}}),
}


class StartRecorder(BaseCallbackHandler):
    """Records the invocation params of every chat-model run that starts."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self.starts.append(dict(kwargs.get("invocation_params") or {}))


def _call(method: str, guarded: Guardrails, config: RunnableConfig, kwargs: dict[str, Any]) -> Any:
    if method == "invoke":
        return guarded.invoke("hi", config, **kwargs).content
    if method == "stream":
        return "".join(c.text for c in guarded.stream("hi", config, **kwargs))
    if method == "batch":
        (message,) = guarded.batch(["hi"], config, **kwargs)
        return message.content
    raise AssertionError(method)


async def _acall(
    method: str, guarded: Guardrails, config: RunnableConfig, kwargs: dict[str, Any]
) -> Any:
    if method == "ainvoke":
        return (await guarded.ainvoke("hi", config, **kwargs)).content
    if method == "astream":
        return "".join([c.text async for c in guarded.astream("hi", config, **kwargs)])
    return _call(method, guarded, config, kwargs)


@pytest.mark.parametrize("path", ["direct", "langchain"])
@pytest.mark.parametrize("listener", [False, True], ids=["no handler", "handler"])
@pytest.mark.parametrize("method", ["invoke", "ainvoke", "stream", "astream", "batch"])
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("bound", list(BOUND))
async def test_bound_and_call_kwargs_reach_the_model_once(
    monkeypatch: pytest.MonkeyPatch,
    bound: str,
    call: str,
    method: str,
    listener: bool,
    path: str,
) -> None:
    model = FakeToolCallingModel(turns=[FakeTurn(text=ANSWER)])
    bind, bound_kwargs = BOUND[bound]
    llm: Runnable[Any, Any] = bind(model)
    if path == "langchain":
        # A binding with a config of its own keeps LangChain's astream (see direct_stream).
        llm = llm.with_config(tags=["bound"])
    chosen: list[bool] = []
    direct = runnable_module.direct_astream

    def watched(*args: Any, **kwargs: Any) -> Any:
        stream = direct(*args, **kwargs)
        chosen.append(stream is not None)
        return stream

    monkeypatch.setattr(runnable_module, "direct_astream", watched)
    guarded = Guardrails(llm=llm, config=rails_config())
    call_kwargs, call_config = CALLS[call]
    recorder = StartRecorder()
    config: RunnableConfig = {**call_config, "callbacks": [recorder]} if listener else call_config

    assert await _acall(method, guarded, config, dict(call_kwargs)) == ANSWER

    expected = {**bound_kwargs, **call_kwargs}
    stop = expected.pop("stop", None)
    assert model.stats.calls == 1
    assert model.stats.last_call_stop == stop
    assert model.stats.last_call_kwargs == expected
    if method in ("ainvoke", "astream"):
        assert chosen == [path == "direct"]
    else:  # sync calls stream the model's own sync API in worker threads
        assert chosen == []
    if listener:
        # The guarded run, then the wrapped model's, which reports the same kwargs.
        assert len(recorder.starts) == 2
        inner = recorder.starts[1]
        assert inner["_type"] == "fake-tool-calling-model"
        assert inner["stop"] == stop
        assert {key: inner[key] for key in expected} == expected
    assert call_kwargs == CALLS[call][0]  # the caller's kwargs are not mutated
