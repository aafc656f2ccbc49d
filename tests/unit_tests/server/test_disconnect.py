"""A client that leaves stops the generation upstream (no tokens produced for nobody)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.testing import ProductionStats

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
