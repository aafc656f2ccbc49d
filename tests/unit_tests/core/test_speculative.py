"""``rails.input.speculative_generation``: the model starts with the input rails; nothing it
produced is released or observed before they passed; an input block stops it and reports usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback

from langchain_guardrails import Guardrails, GuardrailsViolation, RailsConfig, action
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.testing import FakeStreamingChatModel

CHUNKS = [f"w{i} " for i in range(40)]
TEXT = "".join(CHUNKS)
REFUSAL = "I'm sorry, I can't respond to that."


class Timeline(BaseCallbackHandler):
    """Every callback in order, with its arguments as text (to search them for model text)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            seen = object.__getattribute__(self, "seen")

            def record(*args: Any, **kwargs: Any) -> None:
                if name.endswith("_start"):
                    args = args[1:]  # ``serialized`` describes the fake model (its script)
                    kwargs.pop("invocation_params", None)
                seen.append((name, repr((args, kwargs))))

            return record
        return object.__getattribute__(self, name)


class StallingModel(FakeStreamingChatModel):
    """Stops producing after ``stall_after`` chunks when asked something "bad" (until
    cancelled, 5 s at most), so exactly that many are produced before the input rail blocks."""

    stall_after: int = 5

    async def _astream(self, messages: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        produced = 0
        async for chunk in super()._astream(messages, *args, **kwargs):
            yield chunk
            produced += 1
            if produced == self.stall_after and "bad" in messages[-1].text:
                await asyncio.sleep(5)


def speculative_guard(
    *,
    produced_before_decision: int = 5,
    block_on: str = "bad",
    output: list[str] | None = None,
    stream_first: bool = False,
    timeline: Timeline | None = None,
    exceptions: bool = False,
) -> tuple[Guardrails, StallingModel]:
    """An input rail that decides only once the model has produced some chunks: proof that the
    model runs concurrently, and a block that lands mid-stream."""
    model = StallingModel(chunks=CHUNKS, delay=0.002, stall_after=produced_before_decision)

    @action(name="slow input")
    async def slow_input(text: str) -> bool:
        for _ in range(5000):  # bounded: 5 s at most
            if model.stats.last_call_chunks >= produced_before_decision:
                break
            await asyncio.sleep(0.001)
        if timeline is not None:
            timeline.seen.append(("input decided", ""))
        return block_on not in text

    config = RailsConfig.from_content(
        config={
            "enable_rails_exceptions": exceptions,
            "rails": {
                "input": {"flows": ["slow input"], "speculative_generation": True},
                "output": {
                    "flows": ["regex check output"] if output is None else output,
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 4,
                        "context_size": 1,
                        "stream_first": stream_first,
                    },
                },
                "config": {"regex_detection": {"output": {"patterns": ["FORBIDDEN"]}}},
            },
        }
    )
    return Guardrails(llm=model, config=config, actions=[slow_input]), model


@pytest.mark.parametrize("stream_first", [False, True])
@pytest.mark.parametrize("output", [None, []])
async def test_passed_input_releases_the_whole_answer_exactly(
    stream_first: bool, output: list[str] | None
) -> None:
    guarded, model = speculative_guard(output=output, stream_first=stream_first)
    chunks = [chunk async for chunk in guarded.astream("good question")]
    assert "".join(c.content for c in chunks) == TEXT
    guard = chunks[-1].response_metadata["guardrails"]
    assert guard == {"blocked": False, "windows": 0 if output == [] else 10}
    assert chunks[-1].usage_metadata == {
        "input_tokens": 2,
        "output_tokens": 40,
        "total_tokens": 42,
    }
    assert model.stats.calls == 1


@pytest.mark.parametrize("output", [None, []])
async def test_input_block_stops_the_model_at_once_and_reports_its_tokens(
    output: list[str] | None,
) -> None:
    guarded, model = speculative_guard(output=output)
    chunks = [chunk async for chunk in guarded.astream("bad question")]
    assert [c.content for c in chunks] == [REFUSAL]
    assert chunks[0].response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "input",
        "rail": "slow input",
        "reason": None,
        "type": "guardrails_violation",
    }
    # The model was stopped where it was: 5 chunks produced (and paid for), not 40; the
    # prompt tokens are estimated (the provider reports them on its last chunk only).
    assert model.stats.last_call_chunks == 5
    assert chunks[0].usage_metadata == {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8}


async def test_input_block_raises_with_usage_when_exceptions_are_on() -> None:
    guarded, _ = speculative_guard(exceptions=True)
    with pytest.raises(GuardrailsViolation) as error:
        await guarded.ainvoke("bad question")
    assert str(error.value) == "Blocked by input rail 'slow input'"
    assert error.value.usage_metadata == {
        "input_tokens": 3,
        "output_tokens": 5,
        "total_tokens": 8,
    }


async def test_usage_handlers_count_the_blocked_speculative_call() -> None:
    guarded, _ = speculative_guard()
    with get_usage_metadata_callback() as usage:
        await guarded.ainvoke("bad question")
    assert usage.usage_metadata == {
        "fake-streaming-model": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8}
    }


@pytest.mark.parametrize("stream_first", [False, True])
async def test_no_observer_sees_model_output_before_the_input_passed(stream_first: bool) -> None:
    timeline = Timeline()
    guarded, _ = speculative_guard(timeline=timeline, stream_first=stream_first)
    chunks = [c async for c in guarded.astream("good question", {"callbacks": [timeline]})]
    assert "".join(c.content for c in chunks) == TEXT
    decided = timeline.seen.index(("input decided", ""))
    before = timeline.seen[:decided]
    assert [text for _, text in before if "w0 " in text or "w3 " in text] == []
    assert [name for name, _ in before if name == "on_llm_new_token"] == []
    window_events = [text for name, text in before if "guardrails.window" in text]
    assert window_events == []
    # The model's own run is redacted (it ran before the input passed), even in stream_first.
    model_end = [text for name, text in timeline.seen if name == "on_llm_end"]
    assert all("w0 w1" not in text for text in model_end[:-1])
    assert "w0 w1" in model_end[-1]  # the guarded run's own end: the released answer


async def test_a_blocked_call_shows_no_model_output_to_anyone() -> None:
    timeline = Timeline()
    guarded, _ = speculative_guard(timeline=timeline)
    events = [
        event
        async for event in guarded.astream_events(
            "bad question", {"callbacks": [timeline]}, version="v2"
        )
    ]
    leaks = [text for _, text in timeline.seen if "w0 " in text or "w3 " in text]
    assert leaks == []
    assert [e["event"] for e in events if "w0 " in repr(e.get("data"))] == []
    streamed = [e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"]
    assert streamed == [REFUSAL]
    assert [name for name, text in timeline.seen if "guardrails.window" in text] == []


@pytest.mark.parametrize(
    ("rails", "message"),
    [
        (
            {"input": {"flows": ["mask sensitive data on input"]}},
            "rails.input.speculative_generation: true cannot be used with rails.input.flows "
            "entry 'mask sensitive data on input', which rewrites the input: the model would "
            "start on text the rail has not masked yet (set speculative_generation: false, or "
            "make the rail block instead of mask)",
        ),
        (
            {"tool_input": {"flows": ["mask sensitive data on input"]}},
            "rails.input.speculative_generation: true cannot be used with rails.tool_input."
            "flows entry 'mask sensitive data on input', which rewrites the input: the model "
            "would start on text the rail has not masked yet (set speculative_generation: "
            "false, or make the rail block instead of mask)",
        ),
    ],
)
def test_a_masking_input_rail_makes_speculation_a_config_error(
    rails: dict[str, Any], message: str
) -> None:
    rails = {**rails, "config": {"sensitive_data_detection": {"input": {"entities": ["URL"]}}}}
    rails.setdefault("input", {})["speculative_generation"] = True
    config = RailsConfig.from_content(config={"rails": rails})
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=FakeStreamingChatModel(text="hi"), config=config)
    assert str(error.value) == message


async def test_without_speculation_the_model_waits_for_the_input_rails() -> None:
    model = FakeStreamingChatModel(chunks=CHUNKS)
    produced_at_decision: list[int] = []

    @action(name="watch input")
    async def watch_input(text: str) -> bool:
        await asyncio.sleep(0.01)
        produced_at_decision.append(model.stats.chunks_produced)
        return True

    config = RailsConfig.from_content(config={"rails": {"input": {"flows": ["watch input"]}}})
    guarded = Guardrails(llm=model, config=config, actions=[watch_input])
    assert (await guarded.ainvoke("hi")).content == TEXT
    assert produced_at_decision == [0]


def test_sync_invoke_speculates_too() -> None:
    guarded, _ = speculative_guard()
    assert guarded.invoke("good question").content == TEXT
    guarded, model = speculative_guard()  # a fresh count of produced chunks
    blocked = guarded.invoke("bad question")
    assert blocked.content == REFUSAL
    assert blocked.response_metadata["guardrails"]["stage"] == "input"
    # The sync model runs in worker threads one chunk at a time (and does not stall): the
    # chunk in flight when the block came may be produced and never received.
    assert model.stats.last_call_chunks - 1 <= blocked.usage_metadata["output_tokens"]
    assert blocked.usage_metadata["output_tokens"] <= model.stats.last_call_chunks < len(CHUNKS)


@pytest.mark.requires("langgraph")
@pytest.mark.parametrize("stream_first", [False, True])
async def test_langgraph_messages_show_only_released_text(stream_first: bool) -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph

    def run(question: str) -> Any:
        guarded, _ = speculative_guard(stream_first=stream_first)

        async def node(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await guarded.ainvoke(state["messages"])]}

        builder = StateGraph(MessagesState)
        builder.add_node("model", node)
        builder.add_edge(START, "model")
        builder.add_edge("model", END)
        return builder.compile().astream({"messages": [("user", question)]}, stream_mode="messages")

    passed = [m.content async for m, _ in run("good question")]
    assert "".join(passed) == TEXT
    blocked = [m.content async for m, _ in run("bad question")]
    assert blocked == [REFUSAL]
