"""Server side of issue 12: ``rails.output.max_tokens`` caps requests (400 above it), and
``: keep-alive`` comments while a hold-back window is checked (the openai SDK ignores them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.outputs import ChatGenerationChunk
from openai import OpenAI

from langchain_guardrails.llm import register_engine
from langchain_guardrails.server import create_app
from langchain_guardrails.testing import FakeStreamingChatModel

from .conftest import live_server

SEEN_KWARGS: list[dict[str, Any]] = []


class KwargsProbe(FakeStreamingChatModel):
    """Records the generation kwargs each call gets."""

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        SEEN_KWARGS.append({k: v for k, v in kwargs.items() if k != "run_manager"})
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk


register_engine("kwargs_probe", lambda config: KwargsProbe(**config.parameters))

CAPPED = """
models:
  - type: main
    engine: kwargs_probe
    parameters: {text: "Hello there."}
rails:
  output:
    max_tokens: 40
"""

SLOW_HOLD_BACK = """
models:
  - type: main
    engine: scripted
    parameters:
      default_reply: "one two three four five six"
rails:
  output:
    flows: [slow check]
    streaming: {enabled: true, chunk_size: 3, context_size: 1, stream_first: false}
"""

SLOW_ACTION = """
import asyncio

from langchain_guardrails.config.actions import action


@action(name="slow check")
async def slow_check(text: str) -> bool:
    await asyncio.sleep(0.35)
    return True
"""


def folder(root: Path, name: str, config: str, actions: str | None = None) -> Path:
    path = root / name
    path.mkdir()
    (path / "config.yml").write_text(config, encoding="utf-8")
    if actions is not None:
        (path / "actions.py").write_text(actions, encoding="utf-8")
    return path


@pytest.fixture
def capped_client(tmp_path: Path) -> Iterator[httpx.Client]:
    folder(tmp_path, "capped", CAPPED)
    app = create_app(tmp_path)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def ask(max_tokens: int | None = None, key: str = "max_tokens") -> dict[str, Any]:
    body: dict[str, Any] = {"model": "capped", "messages": [{"role": "user", "content": "hi"}]}
    if max_tokens is not None:
        body[key] = max_tokens
    return body


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_asking_for_more_than_the_config_limit_is_a_400_naming_it(
    capped_client: httpx.Client, key: str
) -> None:
    SEEN_KWARGS.clear()
    response = capped_client.post("/v1/chat/completions", json=ask(41, key))
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": f"{key} must be at most 40 for this config (rails.output.max_tokens); "
            "got 41",
            "type": "invalid_request_error",
            "param": key,
            "code": "invalid_value",
        }
    }
    assert SEEN_KWARGS == []  # the model was never called


def test_requests_within_the_limit_or_without_one_are_capped(
    capped_client: httpx.Client,
) -> None:
    SEEN_KWARGS.clear()
    for max_tokens in (40, 7, None):
        response = capped_client.post("/v1/chat/completions", json=ask(max_tokens))
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "Hello there."
    assert [seen.get("max_tokens") for seen in SEEN_KWARGS] == [40, 7, 40]


def test_hold_back_checks_send_keep_alive_comments_the_openai_sdk_ignores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_guardrails.server.protocol import sse

    monkeypatch.setattr(sse, "KEEPALIVE_SECONDS", 0.1)
    folder(tmp_path, "slow", SLOW_HOLD_BACK, SLOW_ACTION)
    app = create_app(tmp_path)
    body = {
        "model": "slow",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    with live_server(app) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            raw = client.post("/v1/chat/completions", json=body).text
        with OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
            stream = sdk.chat.completions.create(
                model="slow", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            chunks = list(stream)
    # The window checks take 0.35 s each: the silence between events is filled with comments.
    assert ": keep-alive\n\n" in raw
    data_events = [block for block in raw.split("\n\n") if block.startswith("data: ")]
    comments = [block for block in raw.split("\n\n") if block and not block.startswith("data: ")]
    assert set(comments) == {": keep-alive"}
    assert data_events[-1] == "data: [DONE]"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
