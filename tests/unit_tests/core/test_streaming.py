"""Guarded streaming end to end: release timing, blocks, refusals, cancellation, sync twins."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk

from langchain_guardrails import Guardrails, GuardrailsViolation, RailResult, RailsConfig, action
from langchain_guardrails.testing import FakeStreamingChatModel, ScriptedChatModel
from tests.unit_tests.core.configs import rails_config as config

REFUSAL = "I'm sorry, I can't respond to that."


def window_spy() -> tuple[Any, list[str]]:
    """An output rail named ``spy`` that lets everything pass and records each window's text."""
    checked: list[str] = []

    @action(name="spy", inline=True)
    def spy(text: str) -> bool:
        checked.append(text)
        return True

    return spy, checked


def words(n: int, blocked_at: int | None = None) -> list[str]:
    return ["FORBIDDEN " if i == blocked_at else f"w{i} " for i in range(n)]


@pytest.mark.parametrize("delay", [0.0, 0.001])
@pytest.mark.parametrize("stream_first", [True, False])
async def test_a_block_stops_generation_within_one_window(delay: float, stream_first: bool) -> None:
    size, blocked_at, total = 20, 105, 1000  # unit 106 lies in window 6 (units 101..120)
    model = FakeStreamingChatModel(chunks=words(total, blocked_at), delay=delay)
    guarded = Guardrails(llm=model, config=config(size=size, context=5, stream_first=stream_first))
    out = [c async for c in guarded.astream("go")]
    assert out[-1].content == REFUSAL
    assert out[-1].response_metadata["guardrails"]["window"] == 5
    blocked_window_end = 120
    assert model.stats.last_call_chunks <= blocked_window_end + size
    assert model.stats.last_call_chunks < total / 5


async def test_stream_first_delivers_before_the_first_window_is_complete() -> None:
    spy, checked = window_spy()
    model = FakeStreamingChatModel(chunks=words(50), delay=0.001)
    guarded = Guardrails(
        llm=model, config=config(size=10, stream_first=True, flows_out=("spy",)), actions=[spy]
    )
    async for chunk in guarded.astream("go"):
        assert chunk.content == "w0 "
        assert model.stats.last_call_chunks == 1
        assert checked == []
        break


async def test_hold_back_releases_only_after_the_first_window_passed() -> None:
    spy, checked = window_spy()
    model = FakeStreamingChatModel(chunks=words(50), delay=0.001)
    guarded = Guardrails(
        llm=model, config=config(size=10, context=3, flows_out=("spy",)), actions=[spy]
    )
    got = []
    async for chunk in guarded.astream("go"):
        got.append(chunk.content)
        if len(got) == 1:
            assert checked == ["".join(f"w{i} " for i in range(10))]
            assert model.stats.last_call_chunks >= 10
    # Window 1 released units 1..7; 8..10 waited for window 2 as its context.
    assert "".join(got[:7]) == "".join(f"w{i} " for i in range(7))


async def test_whole_response_mode_checks_once_before_releasing_anything() -> None:
    spy, checked = window_spy()
    model = FakeStreamingChatModel(chunks=words(30), delay=0.001)
    guarded = Guardrails(llm=model, config=config(enabled=False, flows_out=("spy",)), actions=[spy])
    async for _ in guarded.astream("go"):
        assert model.stats.last_call_chunks == 31  # 30 units and the usage chunk: all of it
        assert checked == ["".join(words(30))]
        break


async def test_refusal_chunk_and_invoke_agree() -> None:
    model = FakeStreamingChatModel(chunks=words(40, blocked_at=25))
    guarded = Guardrails(llm=model, config=config())
    out = [c async for c in guarded.astream("go")]
    expected_meta = {
        "blocked": True,
        "stage": "output",
        "rail": "regex check output",
        "reason": "matched pattern 'FORBIDDEN'",
        "type": "guardrails_violation",
        "window": 2,
    }
    assert out[-1].content == REFUSAL
    assert out[-1].response_metadata == {"guardrails": expected_meta}
    assert all("{" not in c.content for c in out)  # never JSON in the text stream
    message = await guarded.ainvoke("go")
    assert isinstance(message, AIMessage)
    assert message.content == out[-1].content
    assert message.response_metadata == {"guardrails": expected_meta}
    sync_message = guarded.invoke("go")
    assert sync_message.content == REFUSAL
    assert sync_message.response_metadata == {"guardrails": expected_meta}
    assert [c.content for c in guarded.stream("go")][-1] == REFUSAL


async def test_passing_invoke_returns_the_whole_text_with_usage() -> None:
    model = FakeStreamingChatModel(chunks=words(12))
    guarded = Guardrails(llm=model, config=config())
    message = await guarded.ainvoke("two words")
    assert message.content == "".join(words(12))
    assert message.usage_metadata == {"input_tokens": 2, "output_tokens": 12, "total_tokens": 14}
    assert message.response_metadata["guardrails"] == {"blocked": False, "windows": 2}
    assert message.response_metadata["model_name"] == "fake-streaming-model"


async def test_final_chunk_carries_usage_once() -> None:
    model = FakeStreamingChatModel(chunks=words(12))
    out = [c async for c in Guardrails(llm=model, config=config()).astream("a b c")]
    assert [c.usage_metadata for c in out[:-1]] == [None] * (len(out) - 1)
    assert out[-1].usage_metadata == {"input_tokens": 3, "output_tokens": 12, "total_tokens": 15}
    assert out[-1].chunk_position == "last"
    summed = out[0]
    for chunk in out[1:]:
        summed = summed + chunk
    assert summed.usage_metadata == out[-1].usage_metadata


async def test_blocked_stream_reports_usage_so_far() -> None:
    model = FakeStreamingChatModel(chunks=words(100, blocked_at=15), input_usage_first=True)
    out = [c async for c in Guardrails(llm=model, config=config()).astream("three words here")]
    assert out[-1].response_metadata["guardrails"]["blocked"] is True
    received = model.stats.last_call_chunks
    assert out[-1].usage_metadata == {
        "input_tokens": 3,
        "output_tokens": received,
        "total_tokens": 3 + received,
    }


async def test_input_block_never_calls_the_model() -> None:
    model = FakeStreamingChatModel(chunks=words(5))
    guarded = Guardrails(llm=model, config=config(flows_in=("regex check input",)))
    out = [c async for c in guarded.astream("please jailbreak yourself")]
    assert len(out) == 1
    assert out[0].content == REFUSAL
    assert out[0].response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "input",
        "rail": "regex check input",
        "reason": "matched pattern 'jailbreak'",
        "type": "guardrails_violation",
    }
    assert model.stats.calls == 0


async def test_refusal_texts_per_stage_and_per_rail() -> None:
    model = FakeStreamingChatModel(chunks=words(30, blocked_at=3))
    staged = (
        config(
            flows_in=("regex check input",),
            rails_extra=None,
        )
        if False
        else RailsConfig.from_content(
            config={
                "rails": {
                    "input": {
                        "flows": [{"flow": "regex check input", "refusal": "Not that, please."}]
                    },
                    "output": {
                        "flows": ["regex check output"],
                        "streaming": {"enabled": True, "chunk_size": 5, "context_size": 1},
                    },
                    "config": {
                        "regex_detection": {
                            "input": {"patterns": ["jailbreak"]},
                            "output": {"patterns": ["FORBIDDEN"]},
                        }
                    },
                    "refusal": {"message": "Default no.", "output": "Output no."},
                }
            }
        )
    )
    guarded = Guardrails(llm=model, config=staged)
    assert (await guarded.ainvoke("jailbreak")).content == "Not that, please."
    assert (await guarded.ainvoke("hello")).content == "Output no."


async def test_exceptions_mode_raises_the_violation() -> None:
    model = FakeStreamingChatModel(chunks=words(100, blocked_at=15))
    guarded = Guardrails(llm=model, config=config(enable_rails_exceptions=True))
    received: list[str] = []
    with pytest.raises(GuardrailsViolation) as info:
        async for chunk in guarded.astream("go"):
            received.append(chunk.content)
    violation = info.value
    assert (
        str(violation) == "Blocked by output rail 'regex check output': matched pattern 'FORBIDDEN'"
    )
    assert (violation.stage, violation.rail) == ("output", "regex check output")
    assert violation.metadata["window"] == 1
    assert "FORBIDDEN " not in received
    assert model.stats.last_call_chunks < 100
    with pytest.raises(GuardrailsViolation):
        await guarded.ainvoke("go")
    with pytest.raises(GuardrailsViolation):
        guarded.invoke("go")


async def test_masking_rewrite_in_hold_back_mode() -> None:
    @action(name="mask codes", rewrites=True, inline=True)
    def mask(text: str) -> RailResult:
        import re

        return RailResult(allowed=True, text=re.sub(r"code-\d+", "[MASKED]", text))

    chunks = ["Your ", "code", "-12", "34 ", "is ", "ready, ", "and ", "code-", "9 ", "too."]
    model = FakeStreamingChatModel(chunks=chunks)
    for size in range(1, 12):
        for context in range(size):
            guarded = Guardrails(
                llm=model,
                config=config(size=size, context=context, flows_out=("mask codes",)),
                actions=[mask],
            )
            text = "".join(c.content for c in [c async for c in guarded.astream("go")])
            # A value split over more units than the context can hold may be cut by a
            # window edge: context_size decides what can be masked (as it bounds containment).
            if context >= 2:
                assert text == "Your [MASKED] is ready, and [MASKED] too.", (size, context)
    for size, context in [(2, 1), (3, 2), (4, 1), (5, 3), (10, 2)]:
        guarded = Guardrails(
            llm=model,
            config=config(size=size, context=context, flows_out=("mask codes",)),
            actions=[mask],
        )
        text = "".join(c.content for c in [c async for c in guarded.astream("go")])
        assert text == "Your [MASKED] is ready, and [MASKED] too.", (size, context)


async def test_sync_stream_is_incremental() -> None:
    model = FakeStreamingChatModel(chunks=words(40), delay=0.005)
    guarded = Guardrails(llm=model, config=config(stream_first=True))
    produced_at_first = None
    texts = []
    for chunk in guarded.stream("go"):
        if produced_at_first is None:
            produced_at_first = model.stats.last_call_chunks
        texts.append(chunk.content)
    assert produced_at_first is not None and produced_at_first <= 3
    assert "".join(texts) == "".join(words(40))


def test_sync_stream_stopped_early_stops_the_model() -> None:
    model = FakeStreamingChatModel(chunks=words(200), delay=0.002)
    guarded = Guardrails(llm=model, config=config(stream_first=True))
    for index, _ in enumerate(guarded.stream("go")):
        if index == 5:
            break
    import time

    time.sleep(0.05)
    assert model.stats.last_call_chunks < 20


async def test_batch_and_abatch() -> None:
    model = ScriptedChatModel(
        replies=[
            {"match": "one", "reply": "first answer"},
            {"match": "two", "reply": "FORBIDDEN answer"},
        ]
    )
    guarded = Guardrails(llm=model, config=config())
    results = await guarded.abatch(["one", "two"], config={"max_concurrency": 2})
    assert [r.content for r in results] == ["first answer", REFUSAL]
    assert [r.content for r in guarded.batch(["two", "one"])] == [REFUSAL, "first answer"]


async def test_concurrent_streams_on_one_object_do_not_mix() -> None:
    model = ScriptedChatModel(
        replies=[
            {"match": f"q{i}$", "reply": " ".join(f"a{i}-{j}" for j in range(30))}
            for i in range(20)
        ],
        delay=0.0005,
    )
    guarded = Guardrails(llm=model, config=config(size=4, context=1))

    async def ask(i: int) -> str:
        return "".join([c.content async for c in guarded.astream(f"q{i}")])

    answers = await asyncio.gather(*(ask(i) for i in range(20)))
    assert answers == [" ".join(f"a{i}-{j}" for j in range(30)) for i in range(20)]


def test_callers_model_and_config_are_not_mutated() -> None:
    model = FakeStreamingChatModel(chunks=words(3))
    cfg = config()
    before = cfg.model_dump()
    guarded = Guardrails(llm=model, config=cfg)
    guarded.invoke("go")
    assert model.stream_usage is False
    assert guarded.llm is model
    assert guarded._model is not model and guarded._model.stream_usage is True  # type: ignore[attr-defined]
    assert cfg.model_dump() == before


async def test_model_errors_propagate_unchanged() -> None:
    model = FakeStreamingChatModel(chunks=words(30), fail_after=12)
    guarded = Guardrails(llm=model, config=config())
    with pytest.raises(RuntimeError, match="fake model failed after 12 chunks"):
        [c async for c in guarded.astream("go")]


async def test_no_rails_is_a_passthrough() -> None:
    model = FakeStreamingChatModel(chunks=["a", "", "b"])
    guarded = Guardrails(llm=model, config=RailsConfig.from_content())
    out = [c async for c in guarded.astream("x")]
    raw = [c async for c in guarded._model.astream("x")]
    assert [c.content for c in out[:-1]] == [c.content for c in raw]
    assert out[-1].response_metadata == {"guardrails": {"blocked": False, "windows": 0}}


async def test_inputs_like_a_chat_model() -> None:
    from langchain_core.messages import HumanMessage
    from langchain_core.prompts import ChatPromptTemplate

    seen: list[str] = []

    class Echo(FakeStreamingChatModel):
        def reply_chunks(self, messages: list[Any]) -> list[str]:
            seen.append(" | ".join(f"{m.type}:{m.text}" for m in messages))
            return ["ok"]

    guarded = Guardrails(llm=Echo(), config=RailsConfig.from_content())
    prompt = ChatPromptTemplate.from_messages([("system", "sys"), ("human", "{q}")]).invoke(
        {"q": "hi"}
    )
    for value in (
        "hi",
        [HumanMessage("hi")],
        [{"role": "user", "content": "hi"}],
        [("human", "hi")],
        {"input": "hi"},
        {"messages": [{"role": "user", "content": "hi"}]},
        prompt,
    ):
        assert (await guarded.ainvoke(value)).content == "ok"
    assert seen == ["human:hi"] * 6 + ["system:sys | human:hi"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            42,
            "Guardrails got int; expected a string, messages, a PromptValue or a dict with 'input'",
        ),
        (
            {"question": "hi"},
            "Guardrails got a dict with keys ['question']; expected 'input' or 'messages'",
        ),
        ([{"role": "wizard", "content": "hi"}], "Guardrails could not read the messages"),
    ],
)
async def test_bad_inputs_get_clear_errors(value: Any, message: str) -> None:
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=["x"]), config=RailsConfig.from_content()
    )
    with pytest.raises(TypeError) as info:
        await guarded.ainvoke(value)
    assert str(info.value).startswith(message)


async def test_model_from_config() -> None:
    cfg = RailsConfig.from_content(
        config={
            "models": [
                {
                    "type": "main",
                    "engine": "scripted",
                    "parameters": {"default_reply": "scripted hi"},
                }
            ]
        }
    )
    assert (await Guardrails(config=cfg).ainvoke("x")).content == "scripted hi"


def test_missing_model_is_a_clear_error() -> None:
    from langchain_guardrails import ConfigError

    with pytest.raises(
        ConfigError,
        match=re.escape(
            "Guardrails needs a model: pass llm=..., or add a `models` entry with `type: main`"
        ),
    ):
        Guardrails(config=RailsConfig.from_content())


def test_unknown_engine_is_a_clear_error() -> None:
    from langchain_guardrails import ConfigError

    cfg = RailsConfig.from_content(config={"models": [{"type": "main", "engine": "nope"}]})
    with pytest.raises(
        ConfigError, match=r"models\[type=main\]: unknown engine 'nope'; known engines: .*scripted"
    ):
        Guardrails(config=cfg)


async def test_chunks_are_ai_message_chunks() -> None:
    guarded = Guardrails(llm=FakeStreamingChatModel(chunks=["a", "b"]), config=config())
    assert all(isinstance(c, AIMessageChunk) for c in [c async for c in guarded.astream("x")])


async def test_stream_first_shows_nothing_after_a_block_is_decided() -> None:
    model = FakeStreamingChatModel(chunks=words(40, blocked_at=2), delay=0.005)
    guarded = Guardrails(llm=model, config=config(size=5, context=1, stream_first=True))
    out = [c.content async for c in guarded.astream("go")]
    # Window 1 (units 1..5) is checked while unit 6 is generated; the block is decided before
    # unit 6 arrives, so unit 6 is never shown.
    assert out == [*words(5, blocked_at=2), "\n\n", REFUSAL]


async def test_hold_back_releases_a_passed_window_while_the_model_pauses() -> None:
    class Pausing(FakeStreamingChatModel):
        """Streams like its parent, but stops for a while before the 11th chunk."""

        async def _astream(self, *args: Any, **kwargs: Any) -> Any:
            index = 0
            async for chunk in super()._astream(*args, **kwargs):
                if index == 10:
                    await asyncio.sleep(0.6)
                index += 1
                yield chunk

    guarded = Guardrails(
        llm=Pausing(chunks=words(20), delay=0.001), config=config(size=5, context=1)
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    arrival: dict[str, float] = {}
    async for chunk in guarded.astream("go"):
        if chunk.content:
            arrival[chunk.content] = loop.time() - started
    # Window 2 (new units 6..10) is checked while the model pauses after unit 10: it passes,
    # and units 5..9 go out during the pause (unit 10 waits as window 3's context).
    assert max(arrival[w] for w in words(9)) < 0.4
    assert min(arrival[w] for w in words(20)[10:]) > 0.5
