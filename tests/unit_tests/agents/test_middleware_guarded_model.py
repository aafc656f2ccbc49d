"""``Guardrails`` as an agent's model, without the middleware: ``create_agent`` and
LangGraph's ``create_react_agent`` run tool loops whose tool calls and results are guarded."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from langchain_guardrails import Guardrails
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn
from tests.unit_tests.agents.helpers import (
    REFUSAL,
    Recorder,
    agent_config,
    all_text,
    assert_contained,
    call,
    streamed_text,
)


class SeeingModel(FakeToolCallingModel):
    """Records the messages of every call (copies of the model share the list)."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:  # type: ignore[override]
        self.seen.append(list(messages))
        async for chunk in super()._astream(messages, *args, **kwargs):
            yield chunk


def guarded_agent(
    turns: list[FakeTurn], recorder: Recorder, *, stream_first: bool = False
) -> tuple[Any, SeeingModel]:
    model = SeeingModel(turns=turns)
    guarded = Guardrails(llm=model, config=agent_config(stream_first=stream_first))
    agent = create_agent(model=guarded, tools=[recorder.tool], checkpointer=InMemorySaver())
    return agent, model


THREAD = {"configurable": {"thread_id": "t1"}}


async def test_tool_loop_runs_with_the_tools_bound_on_the_wrapped_model() -> None:
    recorder = Recorder()
    agent, model = guarded_agent(
        [FakeTurn(text="Checking.", tool_calls=[call("Paris")]), FakeTurn(text="Sunny.")],
        recorder,
    )
    result = await agent.ainvoke({"messages": [("user", "Weather?")]}, THREAD)

    assert recorder.calls == ["Paris"]
    assert [m.text for m in result["messages"]] == [
        "Weather?",
        "Checking.",
        "Paris: sunny, contact boss@corp.com",
        "Sunny.",
    ]
    # bind_tools went through the guard to the wrapped model's own bind_tools.
    assert result["messages"][1].response_metadata["tools"] == ["lookup"]
    # The masking tool_input rail rewrote what the model saw of the result.
    assert model.seen[1][-1].text == "Paris: sunny, contact <EMAIL_ADDRESS>"


async def test_blocked_tool_call_never_executes_its_tool() -> None:
    recorder = Recorder()
    agent, model = guarded_agent(
        [FakeTurn(text="Sure.", tool_calls=[call("rm -rf /")]), FakeTurn(text="Done.")], recorder
    )
    events = [
        e
        async for e in agent.astream(
            {"messages": [("user", "Clean up")]}, THREAD, stream_mode="messages"
        )
    ]
    assert recorder.calls == []
    assert len(model.seen) == 1
    assert "rm -rf" not in all_text(m for m, _ in events)
    state = agent.get_state(THREAD).values["messages"]
    assert [m.text for m in state] == ["Clean up", REFUSAL]
    assert state[-1].response_metadata["guardrails"]["stage"] == "tool_output"


async def test_blocked_tool_result_never_reaches_the_model() -> None:
    recorder = Recorder(reply="key TOKEN-99")
    agent, model = guarded_agent(
        [FakeTurn(tool_calls=[call("Paris")]), FakeTurn(text="never said")], recorder
    )
    result = await agent.ainvoke({"messages": [("user", "Weather?")]}, THREAD)

    assert recorder.calls == ["Paris"]
    assert len(model.seen) == 1
    assert result["messages"][-1].text == REFUSAL
    assert result["messages"][-1].response_metadata["guardrails"]["stage"] == "tool_input"


async def test_hold_back_stream_never_shows_a_blocked_phrase() -> None:
    answer = "Fine, the admin password is hunter2 and that is all"
    recorder = Recorder()
    agent, _ = guarded_agent(
        [FakeTurn(text="One moment.", tool_calls=[call("Paris")]), FakeTurn(text=answer)],
        recorder,
    )
    events = [
        e
        async for e in agent.astream(
            {"messages": [("user", "Weather?")]}, THREAD, stream_mode="messages"
        )
    ]
    texts = list(streamed_text(events).values())
    assert texts[0] == "One moment."
    assert_contained(texts[-1], answer, "hunter2")
    assert "hunter2" not in all_text(agent.get_state(THREAD).values["messages"])


@pytest.mark.parametrize("sync", [False, True])
async def test_stream_first_streams_each_answer_once(sync: bool) -> None:
    recorder = Recorder()
    agent, _ = guarded_agent(
        [
            FakeTurn(text="Let me look that up.", tool_calls=[call("Paris")]),
            FakeTurn(text="It is sunny in Paris today, enjoy."),
        ],
        recorder,
        stream_first=True,
    )
    inputs = {"messages": [("user", "Weather?")]}
    if sync:
        events = list(agent.stream(inputs, THREAD, stream_mode="messages"))
    else:
        events = [e async for e in agent.astream(inputs, THREAD, stream_mode="messages")]

    answers = [m for m in agent.get_state(THREAD).values["messages"] if isinstance(m, AIMessage)]
    assert streamed_text(events) == {str(m.id): m.text for m in answers}
    assert [m.text for m in answers] == [
        "Let me look that up.",
        "It is sunny in Paris today, enjoy.",
    ]


async def test_create_react_agent_runs_a_guarded_tool_loop() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of create_agent, still shipped
        from langgraph.prebuilt import create_react_agent

    recorder = Recorder()
    model = SeeingModel(
        turns=[
            FakeTurn(tool_calls=[call("Paris", "c1")]),
            FakeTurn(tool_calls=[call("rm -rf /", "c2")]),
            FakeTurn(text="never said"),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = create_react_agent(Guardrails(llm=model, config=agent_config()), [recorder.tool])
    events = [
        e
        async for e in agent.astream(
            {"messages": [("user", "Weather, then clean up")]}, stream_mode="messages"
        )
    ]
    assert recorder.calls == ["Paris"]
    assert len(model.seen) == 2
    assert "rm -rf" not in all_text(m for m, _ in events)
    result = await agent.ainvoke({"messages": [("user", "Weather, then clean up")]})
    assert result["messages"][-1].text == REFUSAL
    assert result["messages"][-1].response_metadata["guardrails"]["stage"] == "tool_output"
