"""A client that leaves stops the generation upstream (no tokens produced for nobody)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.server import create_app
from langchain_guardrails.server.protocol.completions import event_stream
from langchain_guardrails.server.protocol.sse import EventStreamResponse
from langchain_guardrails.testing import FakeStreamingChatModel, ProductionStats

from .conftest import CONFIGS, PROBES, live_server

FULL_REPLY = 176  # units of the `slow` config's reply, one every 20 ms


def settled(stats: ProductionStats, quiet: float = 0.4, limit: float = 15.0) -> int:
    """Chunks produced once production stopped growing for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    last, since = stats.last_call_chunks, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = stats.last_call_chunks
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError(f"the model kept producing: {stats.last_call_chunks} chunks")


@pytest.fixture(scope="module")
def served() -> Any:
    app = create_app(CONFIGS)
    app.state.registry.get("slow")
    stats = PROBES["slow"].stats
    with live_server(app) as url:
        yield url, stats


def test_stream_disconnect_stops_the_model(served: tuple[str, ProductionStats]) -> None:
    url, stats = served
    calls = stats.calls
    body = {"config_id": "slow", "messages": [{"role": "user", "content": "go"}], "stream": True}
    received = []
    with (
        httpx.Client(base_url=url, timeout=30) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(line)
            if len(received) == 4:  # the role delta and three words
                break
    produced = settled(stats)
    assert stats.calls == calls + 1
    assert 3 <= produced < FULL_REPLY // 2


@pytest.mark.parametrize(
    ("route", "body", "delta"),
    [
        ("/v1/responses", {"input": "go"}, '"type":"response.output_text.delta"'),
        (
            "/v1/messages",
            {"max_tokens": 4096, "messages": [{"role": "user", "content": "go"}]},
            '"type":"text_delta"',
        ),
    ],
)
def test_disconnect_on_the_responses_and_messages_routes_stops_the_model(
    served: tuple[str, ProductionStats], route: str, body: dict[str, Any], delta: str
) -> None:
    """The new protocols ride the same run: a client that leaves mid-stream stops the model."""
    url, stats = served
    calls = stats.calls
    deltas = 0
    with (
        httpx.Client(base_url=url, timeout=30) as http,
        http.stream("POST", route, json={"model": "slow", "stream": True, **body}) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            deltas += line.startswith("data: ") and delta in line.replace(" ", "")
            if deltas == 3:
                break
    produced = settled(stats)
    assert stats.calls == calls + 1
    assert 3 <= produced < FULL_REPLY // 2


def test_non_streaming_disconnect_stops_the_model(served: tuple[str, ProductionStats]) -> None:
    url, stats = served
    calls = stats.calls
    body = {"config_id": "slow", "messages": [{"role": "user", "content": "go"}]}
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.Client(base_url=url, timeout=httpx.Timeout(0.5, connect=10)) as http,
    ):
        http.post("/v1/chat/completions", json=body)
    produced = settled(stats)
    assert stats.calls == calls + 1
    assert 1 <= produced < FULL_REPLY // 2


def guarded_model(words: int = 100) -> tuple[Guardrails, FakeStreamingChatModel]:
    # A tiny delay lets the event loop turn between chunks, as a real model's network does.
    model = FakeStreamingChatModel(text="word " * words, delay=0.001)
    return Guardrails(llm=model, config=RailsConfig.from_content(yaml_content="")), model


async def never() -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


async def test_a_failing_send_closes_the_model_stream() -> None:
    guarded, model = guarded_model()
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body" and len(sent) == 4:
            raise OSError("connection reset")  # what ASGI servers raise for a gone client
        sent.append(message)

    events = event_stream(guarded, [HumanMessage("go")], {}, model="m")
    await EventStreamResponse(events)({"type": "http"}, never, send)
    assert len(sent) == 4  # the start, the role delta and two words
    assert model.stats.last_call_chunks < 10


async def test_a_disconnect_message_cancels_the_stream() -> None:
    guarded, model = guarded_model()
    sent: list[MutableMapping[str, Any]] = []
    first_word = asyncio.Event()

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if b"word" in message.get("body", b""):
            first_word.set()

    async def receive() -> dict[str, Any]:
        await first_word.wait()
        return {"type": "http.disconnect"}

    events = event_stream(guarded, [HumanMessage("go")], {}, model="m")
    await EventStreamResponse(events)({"type": "http"}, receive, send)
    assert model.stats.last_call_chunks < 10
    assert sent[-1].get("more_body") is True  # no orderly end: the client is gone
