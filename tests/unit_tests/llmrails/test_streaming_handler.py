"""StreamingHandler never hangs: it ends on completion, on a block, on errors and on cancel.

Every wait is bounded by ``asyncio.wait_for`` so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from langchain_guardrails import LLMRails
from langchain_guardrails.streaming.handler import StreamingHandler
from langchain_guardrails.testing import FakeStreamingChatModel

from .rails_configs import CAPITAL, config, user

LIMIT = 10


async def drain(handler: StreamingHandler) -> list[str]:
    async def run() -> list[str]:
        return [chunk async for chunk in handler]

    return await asyncio.wait_for(run(), timeout=LIMIT)


async def test_completion_streams_chunks_and_returns_the_full_response() -> None:
    handler = StreamingHandler()
    rails = LLMRails(config())
    call = asyncio.create_task(
        rails.generate_async(messages=user("capital?"), streaming_handler=handler)
    )
    chunks = await drain(handler)
    assert chunks == ["The ", "capital ", "of ", "France ", "is ", "Paris."]
    assert await asyncio.wait_for(call, LIMIT) == {"role": "assistant", "content": CAPITAL}
    assert handler.completion == CAPITAL
    assert await asyncio.wait_for(handler.wait(), LIMIT) == CAPITAL


async def test_block_ends_the_handler_with_the_error_object() -> None:
    handler = StreamingHandler()
    rails = LLMRails(config(stream_first=False))
    call = asyncio.create_task(
        rails.generate_async(messages=user("a secret"), streaming_handler=handler)
    )
    chunks = await drain(handler)
    # The released text, rails.refusal.separator, then the error object (as the gateway).
    assert chunks[:-1] == ["The ", "password ", "\n\n"]
    assert json.loads(chunks[-1])["error"]["param"] == "regex check output"
    result = await asyncio.wait_for(call, LIMIT)
    assert result == {"role": "assistant", "content": "I'm sorry, I can't respond to that."}


async def test_model_error_ends_the_handler_with_the_error() -> None:
    handler = StreamingHandler()
    failing = FakeStreamingChatModel(text="one two three four five", fail_after=2)
    rails = LLMRails(config(), llm=failing)
    call = asyncio.create_task(rails.generate_async(messages=user("hi"), streaming_handler=handler))
    received: list[str] = []
    with pytest.raises(RuntimeError, match=r"^fake model failed after 2 chunks$"):
        async with asyncio.timeout(LIMIT):
            async for chunk in handler:
                received.append(chunk)
    assert received == ["one ", "two "]
    with pytest.raises(RuntimeError, match=r"^fake model failed after 2 chunks$"):
        await asyncio.wait_for(call, LIMIT)
    assert isinstance(handler.error, RuntimeError)


async def test_cancelled_call_ends_the_handler() -> None:
    handler = StreamingHandler()
    rails = LLMRails(config(delay=0.05))
    call = asyncio.create_task(
        rails.generate_async(messages=user("capital?"), streaming_handler=handler)
    )
    first = await asyncio.wait_for(anext(handler), LIMIT)
    call.cancel()
    rest = await drain(handler)
    assert [first, *rest][0] == "The " and len(rest) < 5


async def test_handler_as_a_langchain_callback_streams_one_model_call() -> None:
    handler = StreamingHandler()
    model = FakeStreamingChatModel(text="alpha beta gamma")
    consumer = asyncio.create_task(drain(handler))
    async for _ in model.astream("go", config={"callbacks": [handler]}):
        pass
    assert await consumer == ["alpha ", "beta ", "gamma"]

    failing = StreamingHandler()
    broken = FakeStreamingChatModel(text="alpha beta gamma", fail_after=1)
    with pytest.raises(RuntimeError):
        async for _ in broken.astream("go", config={"callbacks": [failing]}):
            pass
    with pytest.raises(RuntimeError, match=r"^fake model failed after 1 chunks$"):
        await drain(failing)


async def test_chunks_pushed_from_another_thread_arrive() -> None:
    handler = StreamingHandler()

    def produce() -> None:
        async def push() -> None:
            for word in ("from ", "a ", "thread"):
                await handler.push_chunk(word)
            await handler.push_chunk(None)

        asyncio.run(push())

    consumer = asyncio.create_task(drain(handler))
    await asyncio.sleep(0.01)  # the consumer is waiting when the thread pushes
    thread = threading.Thread(target=produce)
    thread.start()
    assert await consumer == ["from ", "a ", "thread"]
    thread.join()


async def test_push_chunk_rejects_other_types() -> None:
    with pytest.raises(
        TypeError,
        match=r"^StreamingHandler\.push_chunk got int; expected str, AIMessageChunk or "
        r"GenerationChunk$",
    ):
        await StreamingHandler().push_chunk(3)  # type: ignore[arg-type]
