"""LangGraph's ``messages`` stream shows what the user sees: released chunks, once."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain_core.tools import tool

from langchain_guardrails import Guardrails
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn

from .helpers import SECRET, config

pytestmark = pytest.mark.requires("langgraph")

BLOCKED = f"Sure, the admin password is {SECRET} and you can log in now."
CLEAN = "The capital of France is Paris, a city on the Seine."
REFUSAL = "I'm sorry, I can't respond to that."


@tool
def lookup(city: str) -> str:
    """Look up a city."""
    return "sunny"


def graph(guarded: Any, how: str, sync: bool) -> Any:
    from langgraph.graph import END, START, MessagesState, StateGraph

    if sync:

        def node(state: MessagesState) -> dict[str, Any]:
            if how == "stream":
                chunks = list(guarded.stream(state["messages"]))
                from langchain_guardrails.engine.results import aggregate

                return {"messages": [aggregate(chunks)]}
            return {"messages": [guarded.invoke(state["messages"])]}

    else:

        async def node(state: MessagesState) -> dict[str, Any]:  # type: ignore[misc]
            if how == "stream":
                chunks = [c async for c in guarded.astream(state["messages"])]
                from langchain_guardrails.engine.results import aggregate

                return {"messages": [aggregate(chunks)]}
            return {"messages": [await guarded.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", node)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile()


def guard(text: str, *, stream_first: bool, bound: bool) -> Any:
    model = FakeToolCallingModel(turns=[FakeTurn(text=text)])
    guarded: Any = Guardrails(llm=model, config=config(stream_first=stream_first))
    if bound == "bind_tools":
        guarded = guarded.bind_tools([lookup])
    elif bound:
        guarded = Guardrails(
            llm=model.bind(temperature=0), config=config(stream_first=stream_first)
        )
    return guarded


async def streamed(app: Any, sync: bool) -> list[Any]:
    inputs = {"messages": [("user", "hi")]}
    if sync:
        return [m for m, _ in app.stream(inputs, stream_mode="messages")]
    return [m async for m, _ in app.astream(inputs, stream_mode="messages")]


@pytest.mark.parametrize("bound", [False, True, "bind_tools"])
@pytest.mark.parametrize("how", ["invoke", "stream"])
@pytest.mark.parametrize("sync", [False, True])
@pytest.mark.parametrize("stream_first", [False, True])
async def test_messages_stream_is_the_released_stream(
    bound: Any, how: str, sync: bool, stream_first: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        clean = await streamed(
            graph(guard(CLEAN, stream_first=stream_first, bound=bound), how, sync), sync
        )
        blocked = await streamed(
            graph(guard(BLOCKED, stream_first=stream_first, bound=bound), how, sync), sync
        )
    # Incremental: one message chunk per released chunk, never the raw model tokens twice.
    texts = [m.content for m in clean if m.content]
    assert "".join(texts) == CLEAN and len(texts) == len(CLEAN.split())
    assert len({m.id for m in clean}) == 1
    blocked_text = "".join(m.content for m in blocked)
    assert blocked_text.endswith(REFUSAL)
    if not stream_first:
        assert SECRET not in repr(blocked)
        assert blocked_text == "Sure, \n\n" + REFUSAL  # a direct call: released, separator, refusal
    else:
        assert blocked_text.count("password") <= 1  # no duplicates
    assert not [r for r in caplog.records if "callback" in r.getMessage()]


@pytest.mark.parametrize("stream_first", [False, True])
async def test_a_blocked_tool_call_streams_one_message_and_no_model_leftovers(
    stream_first: bool,
) -> None:
    model = FakeToolCallingModel(
        turns=[
            FakeTurn(
                text="Looking.",
                tool_calls=[{"name": "lookup", "args": {"city": SECRET}, "id": "c1"}],
            )
        ]
    )
    guarded = Guardrails(
        llm=model, config=config(stream_first=stream_first, tool_output=["regex check output"])
    ).bind_tools([lookup])
    streamed = await streamed_of(graph(guarded, "invoke", sync=False))
    assert len({m.id for m in streamed}) == 1  # the guarded run's message only
    assert not any(getattr(m, "tool_call_chunks", None) for m in streamed)
    assert "".join(m.content for m in streamed).endswith(REFUSAL)
    assert SECRET not in repr(streamed)


async def streamed_of(app: Any) -> list[Any]:
    return await streamed(app, sync=False)
