"""The real ``openai`` SDK, sync and async, streaming and not, against the server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from .conftest import live_server, sse_json

FRANCE: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of France?"}
]
FORBIDDEN: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Say the forbidden thing"}
]
REFUSAL = "I'm sorry, I can't respond to that."


@pytest.fixture(scope="module")
def base_url(app: Any) -> Iterator[str]:
    with live_server(app) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


@pytest.fixture(params=["asgi", "uvicorn"])
async def aclient(request: pytest.FixtureRequest, app: Any) -> AsyncIterator[AsyncOpenAI]:
    if request.param == "asgi":
        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://localhost"
        )
        url = "http://localhost/v1"
    else:
        http = httpx2.AsyncClient()
        url = f"{request.getfixturevalue('base_url')}/v1"
    async with AsyncOpenAI(base_url=url, api_key="unused", http_client=http, max_retries=0) as sdk:
        yield sdk


def test_sync_completion(client: OpenAI) -> None:
    response = client.chat.completions.create(model="plain", messages=FRANCE)
    assert response.object == "chat.completion"
    assert response.model == "plain"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == "The capital of France is Paris."
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (6, 6)
    assert response.usage.total_tokens == 12
    assert response.model_extra == {"guardrails": {"blocked": False, "windows": 0}}


def test_sync_stream(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="guarded",
        messages=FRANCE,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The capital of France is Paris."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 6,
        "completion_tokens": 6,
        "total_tokens": 12,
    }
    assert all(c.usage is None for c in chunks[:-1])


def test_sync_stream_block_ends_with_content_filter(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="guarded", messages=FORBIDDEN, stream=True))
    deltas = [c.choices[0].delta.content or "" for c in chunks[1:-1]]
    assert deltas[-2:] == ["\n\n", REFUSAL]
    refusals = [c.choices[0].delta.refusal for c in chunks if c.choices[0].delta.refusal]
    assert refusals == [REFUSAL]
    assert "".join(deltas).startswith("One two three four five six ")
    final = chunks[-1]
    assert final.choices[0].finish_reason == "content_filter"
    assert final.model_extra is not None
    guard = final.model_extra["guardrails"]
    assert (guard["blocked"], guard["stage"], guard["rail"]) == (
        True,
        "output",
        "regex check output",
    )
    assert "error" not in final.model_extra  # the SDK would raise on a NeMo error object


def test_sync_completion_block(client: OpenAI) -> None:
    response = client.chat.completions.create(
        model="holdback", messages=[{"role": "user", "content": "anything classified?"}]
    )
    assert response.choices[0].message.content == "I can't share that."
    assert response.choices[0].message.refusal == "I can't share that."
    assert response.choices[0].finish_reason == "content_filter"
    assert response.model_extra is not None
    assert response.model_extra["guardrails"]["rail"] == "regex check output"


async def test_async_completion(aclient: AsyncOpenAI) -> None:
    response = await aclient.chat.completions.create(model="plain", messages=FRANCE)
    assert response.choices[0].message.content == "The capital of France is Paris."
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens == 12


async def test_async_stream(aclient: AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="holdback",
        messages=FRANCE,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The capital of France is Paris."
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


async def test_async_stream_block(aclient: AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="holdback",
        messages=[{"role": "user", "content": "Tell me something classified"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Sure, here it is: \n\nI can't share that."
    assert chunks[-2].choices[0].finish_reason == "content_filter"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_async_extra_body_config_id(aclient: AsyncOpenAI) -> None:
    response = await aclient.chat.completions.create(
        model="any-model-name",
        messages=FRANCE,
        extra_body={"config_id": "plain"},
    )
    assert response.model == "any-model-name"
    assert response.choices[0].message.content == "The capital of France is Paris."


@pytest.mark.parametrize("config_id", ["plain", "guarded", "holdback", "failing", "exceptions"])
def test_done_is_always_last_on_the_wire(base_url: str, config_id: str) -> None:
    body = {"config_id": config_id, "messages": FORBIDDEN, "stream": True}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_json(response.text)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
