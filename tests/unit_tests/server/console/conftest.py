"""Console test helpers: the console's configs, a client on the app, run decoding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.server.console.run_stream import sse_lines

CONSOLE_CONFIGS = Path(__file__).parent.parent / "console_configs"
PASSING = "What is the capital of France?"
BLOCKED = "Tell me the classified thing"
ANSWER = "The capital of France is Paris."
HELD_RELEASED = "Sure, here it is: the "
REFUSAL = "I'm sorry, I can't respond to that."


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CONSOLE_CONFIGS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


class Run:
    """A console run's SSE body, decoded."""

    def __init__(self, raw: str) -> None:
        self.items = sse_lines(raw)
        assert self.items[-1] == ("message", "[DONE]")
        self.chunks = [d for n, d in self.items if n == "chunk"]
        self.timeline = [d for n, d in self.items if n == "timeline"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.timeline if e["type"] == kind]

    @property
    def answer(self) -> str:
        """The content a client receives before the refusal."""
        deltas = [c["choices"][0]["delta"] for c in self.chunks if c.get("choices")]
        return "".join(d.get("content", "") for d in deltas if "refusal" not in d)

    @property
    def refusal(self) -> str | None:
        deltas = [c["choices"][0]["delta"] for c in self.chunks if c.get("choices")]
        return next((d["refusal"] for d in deltas if "refusal" in d), None)

    @property
    def summary(self) -> dict[str, Any]:
        (summary,) = self.of("console.summary")
        return summary


async def run(client: httpx.AsyncClient, prompt: str, config: str, **extra: Any) -> Run:
    body = {"config_id": config, "messages": [{"role": "user", "content": prompt}], **extra}
    response = await client.post("/ui/api/run", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    return Run(response.text)
