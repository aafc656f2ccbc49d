"""Issue 13 items 2, 3 and 8: LangServe ``/batch`` counts against the concurrency limit,
``/invoke`` and ``/batch`` stop generating when the client leaves, bad inputs get 422."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.testing import ProductionStats

from .conftest import CONFIGS, PROBES, live_server
from .test_disconnect import FULL_REPLY, settled


@pytest.fixture(autouse=True)
def _collect() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, ProductionStats]]:
    app = create_app(CONFIGS, langserve=True, max_concurrency=4)
    with live_server(app) as url:
        yield url, PROBES["slow"].stats


def test_batch_larger_than_the_limit_is_refused(served: tuple[str, ProductionStats]) -> None:
    url, _ = served
    with httpx.Client(base_url=url, timeout=10) as http:
        response = http.post("/configs/plain/batch", json={"inputs": ["hi"] * 5})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "A batch may hold at most 4 inputs (the server's max concurrency); "
            "this one holds 5",
            "type": "invalid_request_error",
            "param": None,
            "code": "batch_too_large",
        }
    }


def test_each_batch_input_takes_a_slot(served: tuple[str, ProductionStats]) -> None:
    url, stats = served
    calls = stats.calls

    def slow_batch() -> None:
        # Leaves after 1 s: the batch is cancelled (item 3) and frees its slots.
        with (
            pytest.raises(httpx.ReadTimeout),
            httpx.Client(base_url=url, timeout=httpx.Timeout(1.0, connect=10)) as http,
        ):
            http.post("/configs/slow/batch", json={"inputs": ["go", "go", "go"]})

    worker = threading.Thread(target=slow_batch)
    worker.start()
    deadline = time.monotonic() + 5
    while stats.calls < calls + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    with httpx.Client(base_url=url, timeout=10) as http:
        # Before the fix a batch took one slot whatever its size: this was 200.
        busy = http.post("/configs/plain/batch", json={"inputs": ["a", "b"]})
        single = http.post("/configs/plain/invoke", json={"input": "hi"})
    worker.join(10)
    assert busy.status_code == 503
    assert busy.json()["error"]["code"] == "server_busy"
    assert single.status_code == 200
    # The three calls count together (the counter resets when each starts): all stopped early.
    assert settled(stats) < 3 * FULL_REPLY // 2


@pytest.mark.parametrize("route", ["invoke", "batch"])
def test_disconnect_stops_invoke_and_batch(served: tuple[str, ProductionStats], route: str) -> None:
    url, stats = served
    calls = stats.calls
    body: dict[str, Any] = {"input": "go"} if route == "invoke" else {"inputs": ["go"]}
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.Client(base_url=url, timeout=httpx.Timeout(0.5, connect=10)) as http,
    ):
        http.post(f"/configs/slow/{route}", json=body)
    produced = settled(stats)
    assert stats.calls == calls + 1
    # Before the fix all 176 chunks were produced for nobody.
    assert 1 <= produced < FULL_REPLY // 2


def test_openai_style_messages_get_422(served: tuple[str, ProductionStats]) -> None:
    url, _ = served
    with httpx.Client(base_url=url, timeout=10) as http:
        response = http.post(
            "/configs/plain/invoke", json={"input": [{"role": "user", "content": "hi"}]}
        )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid input: messages must be LangChain message dicts with a 'type' "
        "(human, ai, system); OpenAI-style role/content dicts go to /v1/chat/completions; "
        "see /configs/plain/input_schema"
    }
