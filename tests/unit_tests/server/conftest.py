"""Server test fixtures: test engines, a live uvicorn server on 127.0.0.1, SSE parsing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from langchain_core.outputs import ChatGenerationChunk

from langchain_guardrails.config.rails_config import ModelConfig
from langchain_guardrails.llm import register_engine
from langchain_guardrails.testing import FakeStreamingChatModel

CONFIGS = Path(__file__).parent / "configs"

PROBES: dict[str, FakeStreamingChatModel] = {}
"""Models built by ``engine: probe``, by their ``model`` name (tests watch their production)."""


def _probe(config: ModelConfig) -> FakeStreamingChatModel:
    model = FakeStreamingChatModel(**config.parameters)
    PROBES[config.model or "probe"] = model
    return model


class TruncatingModel(FakeStreamingChatModel):
    """Ends its stream with ``finish_reason: "length"``, as a model at its token limit."""

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in super()._astream(*args, **kwargs):
            metadata = chunk.message.response_metadata
            if "finish_reason" in metadata:
                update = {"response_metadata": {**metadata, "finish_reason": "length"}}
                chunk = ChatGenerationChunk(message=chunk.message.model_copy(update=update))
            yield chunk


register_engine("probe", _probe)
register_engine("truncating", lambda config: TruncatingModel(**config.parameters))


@contextmanager
def live_server(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 in a thread; yields the base URL.

    ``options`` go to ``uvicorn.Config`` (e.g. ``http=header_timeout_protocol(0.3)``).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2, **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def sse_events(raw: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (strict: every event is one data line)."""
    events = []
    for block in raw.split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        assert len(lines) == 1 and lines[0].startswith("data: "), (
            f"not a strict SSE event: {block!r}"
        )
        events.append(lines[0][len("data: ") :])
    assert raw.endswith("\n\n")
    return events


def sse_json(raw: str) -> list[dict[str, Any]]:
    """Decoded events of an SSE body; asserts ``[DONE]`` is last and only there."""
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    assert "[DONE]" not in events[:-1]
    return [json.loads(e) for e in events[:-1]]


@pytest.fixture(scope="module")
def app() -> Any:
    from langchain_guardrails.server import create_app

    return create_app(CONFIGS)
