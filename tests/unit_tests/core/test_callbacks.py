"""Callbacks, astream_events and usage: observers see released text only, and all the usage."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.outputs import LLMResult

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.observability.events import REDACTED
from langchain_guardrails.testing import FakeStreamingChatModel
from tests.unit_tests.core.configs import rails_config

SECRET = "hunter2"
REPLY = [
    "The ",
    "admin ",
    "password ",
    "is ",
    SECRET,
    ", ",
    "and ",
    "you ",
    "can ",
    "log ",
    "in ",
    "now.",
]


def guarded(*, stream_first: bool = False, audit: bool = False, delay: float = 0.0) -> Guardrails:
    config = rails_config(
        size=3, context=2, stream_first=stream_first, audit=audit, output_patterns=[r"hunter\d"]
    )
    return Guardrails(llm=FakeStreamingChatModel(chunks=REPLY, delay=delay), config=config)


async def test_astream_events_in_hold_back_never_carry_the_blocked_phrase() -> None:
    events = [e async for e in guarded().astream_events("What is the password?", version="v2")]
    kinds = {e["event"] for e in events}
    assert {"on_chat_model_start", "on_chat_model_end", "on_chat_model_stream"} <= kinds
    assert SECRET not in repr(events)
    # The guarded run is a chat-model run: it streams released text, once; the wrapped model's
    # own run streams nothing (its tokens are not released text).
    streams = [e for e in events if e["event"] == "on_chat_model_stream"]
    assert {e["name"] for e in streams} == {"Guardrails"}
    streamed = "".join(e["data"]["chunk"].content for e in streams)
    assert streamed == "The \n\nI'm sorry, I can't respond to that."
    rail_starts = [
        e for e in events if e["event"] == "on_chain_start" and e["name"] == "regex check output"
    ]
    assert rail_starts and all(e["data"]["input"]["text"] == REDACTED for e in rail_starts)


async def test_audit_switch_exposes_unreleased_text() -> None:
    events = [e async for e in guarded(audit=True).astream_events("q", version="v2")]
    model_tokens = [
        e
        for e in events
        if e["event"] == "on_chat_model_stream" and e["name"] == "FakeStreamingChatModel"
    ]
    assert SECRET in repr(model_tokens)


async def test_stream_first_events_carry_the_released_tokens_once() -> None:
    events = [e async for e in guarded(stream_first=True).astream_events("q", version="v2")]
    streams = [e for e in events if e["event"] == "on_chat_model_stream"]
    assert {e["name"] for e in streams} == {"Guardrails"}
    tokens = [e["data"]["chunk"].content for e in streams]
    assert tokens[:4] == ["The ", "admin ", "password ", "is "]


async def test_astream_events_nested_in_a_chain_are_redacted_too() -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | guarded() | StrOutputParser()
    events = [e async for e in chain.astream_events({"q": "password?"}, version="v2")]
    assert SECRET not in repr(events)
    guard_stream = [
        e for e in events if e["event"] == "on_chat_model_stream" and e["name"] == "Guardrails"
    ]
    assert "".join(e["data"]["chunk"].content for e in guard_stream) == (
        "The \n\nI'm sorry, I can't respond to that."
    )


class Recorder(BaseCallbackHandler):
    """Records every event with its run ids (sync handler)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, UUID, UUID | None]] = []

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self.events.append(("chain_start", (kw.get("name"), inputs), run_id, parent_run_id))

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self.events.append(("chat_start", messages, run_id, parent_run_id))

    def on_llm_new_token(
        self, token: str, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self.events.append(("token", token, run_id, parent_run_id))

    def on_llm_end(
        self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        message = response.generations[0][0].message  # type: ignore[attr-defined]
        self.events.append(
            ("llm_end", (message.content, message.usage_metadata), run_id, parent_run_id)
        )

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self.events.append(("llm_error", repr(error), run_id, parent_run_id))

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self.events.append(("chain_end", outputs, run_id, parent_run_id))


async def test_callbacks_propagate_as_child_runs_and_blocked_model_run_ends_cleanly() -> None:
    recorder = Recorder()
    out = [
        c
        async for c in guarded().astream("q", config={"callbacks": [recorder], "run_name": "guard"})
    ]
    assert out[-1].response_metadata["guardrails"]["blocked"]
    guard_start = recorder.events[0]
    assert guard_start[0] == "chat_start" and guard_start[3] is None
    guard_id = guard_start[2]
    chat = [e for e in recorder.events if e[0] == "chat_start" and e[2] != guard_id]
    assert len(chat) == 1 and chat[0][3] == guard_id
    rails = [
        e for e in recorder.events if e[0] == "chain_start" and e[1][0] == "regex check output"
    ]
    assert rails and all(e[3] == guard_id for e in rails)
    # Tokens come from the guarded run only, and only released ones.
    tokens = [e for e in recorder.events if e[0] == "token"]
    assert {e[2] for e in tokens} == {guard_id}
    assert "".join(e[1] for e in tokens) == "The \n\nI'm sorry, I can't respond to that."
    assert not [e for e in recorder.events if e[0] == "llm_error"]
    (end,) = [e for e in recorder.events if e[0] == "llm_end" and e[2] != guard_id]
    content, usage = end[1]
    assert content == ""  # redacted; usage kept
    assert usage is not None and usage["output_tokens"] >= 5
    (guard_end,) = [e for e in recorder.events if e[0] == "llm_end" and e[2] == guard_id]
    assert guard_end[1] == ("I'm sorry, I can't respond to that.", None)  # usage: model run's
    assert SECRET not in repr(recorder.events)


@pytest.mark.parametrize("stream_first", [True, False])
async def test_usage_callback_sees_streamed_invoked_and_blocked_calls(stream_first: bool) -> None:
    passing = Guardrails(
        llm=FakeStreamingChatModel(chunks=["fine ", "answer"], model_name="m1"),
        config=RailsConfig.from_content(),
    )
    blocking = guarded(stream_first=stream_first)
    with get_usage_metadata_callback() as cb:
        [c async for c in passing.astream("two words")]
        assert cb.usage_metadata == {
            "m1": {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
        }
        await passing.ainvoke("two words")
        passing.invoke("two words")
        assert cb.usage_metadata["m1"]["total_tokens"] == 12
        out = [c async for c in blocking.astream("q")]
        blocked_usage = out[-1].usage_metadata
        assert out[-1].response_metadata["guardrails"]["blocked"]
    assert blocked_usage is not None and blocked_usage["output_tokens"] > 0
    assert cb.usage_metadata["fake-streaming-model"] == blocked_usage


async def test_usage_is_not_counted_twice_with_other_handlers_present() -> None:
    model = FakeStreamingChatModel(chunks=["a ", "b"], model_name="m2")
    g = Guardrails(llm=model, config=RailsConfig.from_content())
    with get_usage_metadata_callback() as cb:
        await g.ainvoke("one", config={"callbacks": [Recorder()]})
    assert cb.usage_metadata == {"m2": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}


async def test_async_handlers_are_relayed() -> None:
    from langchain_core.callbacks import AsyncCallbackHandler

    class AsyncRecorder(AsyncCallbackHandler):
        def __init__(self) -> None:
            self.ends: list[str] = []

        async def on_llm_end(
            self, response: LLMResult, *, parent_run_id: UUID | None = None, **kw: Any
        ) -> None:
            await asyncio.sleep(0)
            if parent_run_id is not None:  # the wrapped model's run, not the guarded one
                self.ends.append(response.generations[0][0].message.content)  # type: ignore[attr-defined]

    handler = AsyncRecorder()
    await guarded(stream_first=True).ainvoke("q", config={"callbacks": [handler]})
    assert len(handler.ends) == 1 and handler.ends[0].startswith("The admin password is")
