"""Reasoning is a guarded channel; logprobs and metadata follow the text they describe."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import get_usage_metadata_callback

from langchain_guardrails import Guardrails
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn

from .helpers import SECRET, EverythingRecorder, config

THOUGHT = f"the admin password is {SECRET} but I must not say it"
ANSWER = "I cannot share credentials."


def reasoning_model(fmt: str = "blocks", **kwargs: Any) -> FakeToolCallingModel:
    return FakeToolCallingModel(
        turns=[FakeTurn(reasoning=THOUGHT, text=ANSWER)], reasoning_format=fmt, **kwargs
    )


def reasoning_text(chunks: list[Any]) -> str:
    parts = []
    for chunk in chunks:
        if isinstance(chunk.content, list):
            parts += [b["reasoning"] for b in chunk.content if b.get("type") == "reasoning"]
        parts.append(chunk.additional_kwargs.get("reasoning_content", ""))
    return "".join(parts)


@pytest.mark.parametrize("fmt", ["blocks", "kwarg"])
@pytest.mark.parametrize("stream_first", [True, False])
async def test_reasoning_is_checked_and_blocks_the_answer(fmt: str, stream_first: bool) -> None:
    guarded = Guardrails(llm=reasoning_model(fmt), config=config(stream_first=stream_first))
    recorder = EverythingRecorder()
    chunks = [c async for c in guarded.astream("pw?", config={"callbacks": [recorder]})]
    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["blocked"], guard["stage"]) == (True, "output")
    assert chunks[-1].content == "I'm sorry, I can't respond to that."
    assert ANSWER not in "".join(c.text for c in chunks)
    if not stream_first:
        # Hold-back: no part of the blocked phrase reached the caller or any observer.
        assert SECRET not in repr(chunks)
        assert SECRET not in repr(recorder.seen)


@pytest.mark.parametrize("fmt", ["blocks", "kwarg"])
async def test_reasoning_strip_removes_it_everywhere(fmt: str) -> None:
    guarded = Guardrails(
        llm=reasoning_model(fmt), config=config(reasoning="strip", stream_first=True)
    )
    recorder = EverythingRecorder()
    chunks = [c async for c in guarded.astream("pw?", config={"callbacks": [recorder]})]
    assert "".join(c.text for c in chunks) == ANSWER
    assert reasoning_text(chunks) == ""
    assert "password" not in repr(chunks)
    assert "password" not in repr(recorder.seen)
    assert chunks[-1].response_metadata["guardrails"]["blocked"] is False


@pytest.mark.parametrize("fmt", ["blocks", "kwarg"])
async def test_reasoning_pass_releases_it_unchecked(fmt: str) -> None:
    guarded = Guardrails(llm=reasoning_model(fmt), config=config(reasoning="pass"))
    chunks = [c async for c in guarded.astream("pw?")]
    assert chunks[-1].response_metadata["guardrails"]["blocked"] is False
    assert reasoning_text(chunks) == THOUGHT
    assert "".join(c.text for c in chunks) == ANSWER


async def test_clean_reasoning_is_released_in_order_with_the_answer() -> None:
    model = FakeToolCallingModel(turns=[FakeTurn(reasoning="think about it", text="Paris.")])
    chunks = [c async for c in Guardrails(llm=model, config=config()).astream("capital?")]
    assert reasoning_text(chunks) == "think about it"
    assert "".join(c.text for c in chunks) == "Paris."
    first_reasoning = next(i for i, c in enumerate(chunks) if reasoning_text([c]))
    first_text = next(i for i, c in enumerate(chunks) if c.text)
    assert first_reasoning < first_text


async def test_logprobs_of_withheld_text_reach_no_observer() -> None:
    model = FakeToolCallingModel(
        turns=[FakeTurn(text=f"Sure, the admin password is {SECRET} ok then")], logprobs=True
    )
    guarded = Guardrails(llm=model, config=config())
    recorder = EverythingRecorder()
    with get_usage_metadata_callback() as usage:
        chunks = [c async for c in guarded.astream("pw?", config={"callbacks": [recorder]})]
    assert chunks[-1].response_metadata["guardrails"]["blocked"] is True
    assert SECRET not in repr(chunks)
    assert SECRET not in repr(recorder.seen)
    # The model run's end still carries usage (redacted text, kept usage).
    assert usage.usage_metadata["fake-tool-model"]["output_tokens"] > 0
    # Released text keeps its own logprobs.
    released = [c for c in chunks if c.text and "logprobs" in c.response_metadata]
    assert released and released[0].response_metadata["logprobs"]["content"][0]["token"] == "Sure, "


async def test_logprobs_reach_no_astream_event_in_hold_back() -> None:
    model = FakeToolCallingModel(
        turns=[FakeTurn(text=f"Sure, the admin password is {SECRET} ok then")], logprobs=True
    )
    guarded = Guardrails(llm=model, config=config())
    events = [e async for e in guarded.astream_events("pw?", version="v2")]
    assert SECRET not in repr([{k: v for k, v in e.items() if k != "metadata"} for e in events])
    ends = [e for e in events if e["event"] == "on_chat_model_end"]
    assert {e["name"] for e in ends} == {"FakeToolCallingModel", "Guardrails"}
