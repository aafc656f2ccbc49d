"""ChatOpenAI against a local OpenAI-compatible server: usage on the wire, on the final chunk,
and in the standard handlers (main model and LLM-based rails)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import UsageMetadataCallbackHandler, get_usage_metadata_callback
from langchain_core.messages import HumanMessage

from langchain_guardrails import Guardrails, RailsConfig, action
from langchain_guardrails.observability.usage import estimate_prompt_tokens
from langchain_guardrails.testing import FakeOpenAIServer

pytestmark = pytest.mark.requires("langchain_openai")

MAIN_CHUNKS = ["Hello ", "there ", "my ", "friend."]
LONG_CHUNKS = ["a ", "b ", "forbidden ", *[f"w{i} " for i in range(27)]]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    replies = {"main-gpt": MAIN_CHUNKS, "long-gpt": LONG_CHUNKS, "guard-gpt": ["safe"]}
    with FakeOpenAIServer(replies, delay=0.005) as fake:
        yield fake


def chat(server: FakeOpenAIServer, model: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=model, base_url=server.base_url, api_key="test", max_retries=0)


@action(name="guard check")
async def guard_check(text: str, llms: Any) -> bool:
    reply = await llms["guard"].ainvoke([HumanMessage(f"Is this safe? {text}")])
    return "unsafe" not in reply.text


def rails_config(server: FakeOpenAIServer, **streaming: Any) -> RailsConfig:
    guard = {"base_url": server.base_url, "api_key": "test", "max_retries": 0}
    return RailsConfig.from_content(
        config={
            "models": [
                {"type": "guard", "engine": "openai", "model": "guard-gpt", "parameters": guard}
            ],
            "rails": {
                "input": {"flows": ["guard check"]},
                "output": {"flows": ["guard check", "regex check output"], "streaming": streaming},
                "config": {"regex_detection": {"output": {"patterns": ["forbidden"]}}},
            },
        }
    )


def usage(inputs: int, outputs: int) -> dict[str, Any]:
    return {"input_tokens": inputs, "output_tokens": outputs, "total_tokens": inputs + outputs}


def same_usage(actual: Any, expected: dict[str, Any]) -> bool:
    return {k: actual[k] for k in ("input_tokens", "output_tokens", "total_tokens")} == expected


async def test_stream_usage_is_requested_and_reaches_final_chunk_and_handlers(
    server: FakeOpenAIServer,
) -> None:
    llm = chat(server, "main-gpt")
    guarded = Guardrails(llm=llm, config=rails_config(server), actions=[guard_check])
    with get_usage_metadata_callback() as cb:
        chunks = [c async for c in guarded.astream("hi there you")]

    streamed = [r for r in server.chat_requests() if r.get("stream")]
    assert [r["model"] for r in streamed] == ["main-gpt"]
    assert streamed[0]["stream_options"] == {"include_usage": True}
    assert llm.stream_usage is None  # the caller's model was not touched

    assert "".join(c.text for c in chunks) == "Hello there my friend."
    # Server usage: prompt = words of the messages, completion = chunks.
    assert same_usage(chunks[-1].usage_metadata, usage(3, 4))
    # Guard calls: "Is this safe? hi there you" (6 words) and the whole answer (7 words).
    assert {
        name: {k: u[k] for k in ("input_tokens", "output_tokens", "total_tokens")}
        for name, u in cb.usage_metadata.items()
    } == {
        "main-gpt": usage(3, 4),
        "guard-gpt": usage(6 + 7, 2),
    }


async def test_blocked_stream_reports_prompt_and_received_units(server: FakeOpenAIServer) -> None:
    config = rails_config(server, enabled=True, chunk_size=2, context_size=1, stream_first=True)
    guarded = Guardrails(llm=chat(server, "long-gpt"), config=config, actions=[guard_check])
    handler = UsageMetadataCallbackHandler()
    chunks = [c async for c in guarded.astream("hi there you", config={"callbacks": [handler]})]

    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["blocked"], guard["rail"]) == (True, "regex check output")
    shown = sum(1 for c in chunks[:-1] if c.text)
    assert 3 <= shown < len(LONG_CHUNKS)  # stopped early: no tokens paid after the block
    prompt = estimate_prompt_tokens(None, [HumanMessage("hi there you")])
    # Output tokens are the units received: those shown, plus the one that may have arrived
    # after the block was decided (received and paid for, never shown).
    reported = chunks[-1].usage_metadata
    assert reported is not None
    received = reported["output_tokens"]
    assert received in (shown, shown + 1)
    assert reported == usage(prompt, received)
    assert handler.usage_metadata["long-gpt"] == usage(prompt, received)
    assert set(handler.usage_metadata) == {"long-gpt", "guard-gpt"}


def test_invoke_and_batch_through_openai_are_counted(server: FakeOpenAIServer) -> None:
    # Sync calls only: the rails' async client then stays on one event loop.
    guarded = Guardrails(
        llm=chat(server, "main-gpt"), config=rails_config(server), actions=[guard_check]
    )
    with get_usage_metadata_callback() as cb:
        assert guarded.invoke("hi there you").content == "Hello there my friend."
        results = guarded.batch(["hi there you", "hi there you"])
    assert [r.content for r in results] == ["Hello there my friend."] * 2
    assert same_usage(cb.usage_metadata["main-gpt"], usage(3 * 3, 4 * 3))
    assert same_usage(cb.usage_metadata["guard-gpt"], usage(13 * 3, 2 * 3))
    streamed = [r for r in server.chat_requests() if r.get("stream")]
    assert [r["stream_options"] for r in streamed] == [{"include_usage": True}] * 3


async def test_abatch_through_openai_is_counted(server: FakeOpenAIServer) -> None:
    guarded = Guardrails(
        llm=chat(server, "main-gpt"), config=rails_config(server), actions=[guard_check]
    )
    with get_usage_metadata_callback() as cb:
        results = await guarded.abatch(["hi there you", "hi there you"])
    assert [r.content for r in results] == ["Hello there my friend."] * 2
    assert same_usage(cb.usage_metadata["main-gpt"], usage(3 * 2, 4 * 2))
    assert same_usage(cb.usage_metadata["guard-gpt"], usage(13 * 2, 2 * 2))
