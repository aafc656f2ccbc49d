"""Per-key limits without API keys count by client address: changing tokens dodges nothing.

Before the fix, without ``--api-key`` every new bearer token was a new quota.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.server.operations import key_limits as key_limits

from .conftest import CONFIGS, live_server


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def _hold_one_then_try(url: str, first: str, second: str) -> tuple[int, httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        body = {"model": "slow", "messages": [{"role": "user", "content": "go"}], "stream": True}
        holder = http.stream(
            "POST", "/v1/chat/completions", json=body,
            headers={"Authorization": f"Bearer {first}"},
        )  # fmt: skip
        held = await holder.__aenter__()
        try:
            other = await http.post(
                "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {second}"}
            )
        finally:
            await holder.__aexit__(None, None, None)
        return held.status_code, other


def test_changing_tokens_does_not_dodge_per_key_limits_without_api_keys() -> None:
    app = create_app(CONFIGS, max_concurrency_per_key=1)
    with live_server(app) as url:
        held, other = asyncio.run(_hold_one_then_try(url, "token-a", "token-b"))
    assert held == 200
    assert other.status_code == 429
    assert other.json()["error"] == {
        "message": "This client address is at its limit of 1 concurrent requests; retry later",
        "type": "requests",
        "param": None,
        "code": "concurrency_limit_exceeded",
    }


def test_with_api_keys_each_key_has_its_own_limit() -> None:
    app = create_app(CONFIGS, max_concurrency_per_key=1, api_key=["token-a", "token-b"])
    with live_server(app) as url:
        held, other = asyncio.run(_hold_one_then_try(url, "token-a", "token-b"))
        same_held, same = asyncio.run(_hold_one_then_try(url, "token-a", "token-a"))
    assert (held, other.status_code) == (200, 200)
    assert same_held == 200
    assert same.json()["error"]["message"] == (
        "This API key is at its limit of 1 concurrent requests; retry later"
    )


def test_rpm_without_api_keys_counts_the_client_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixed clock: both requests fall in the same minute.
    monkeypatch.setattr(key_limits.time, "time", lambda: 1_000_020.0)
    app = create_app(CONFIGS / "guarded", requests_per_minute_per_key=1)

    async def run() -> list[httpx.Response]:
        async with client(app) as http:
            body = {"messages": [{"role": "user", "content": "hi"}]}
            return [
                await http.post(
                    "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer t{i}"}
                )
                for i in range(2)
            ]

    first, second = asyncio.run(run())
    assert first.status_code == 200
    assert second.status_code == 429  # another token, the same client address
    assert second.json()["error"]["message"] == (
        "This client address is at its limit of 1 requests per minute; retry later"
    )
