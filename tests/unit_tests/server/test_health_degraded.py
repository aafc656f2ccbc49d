"""Issue 21 item 4: ``/health`` reports ``degraded`` (503, with reasons) while every sync-rail
thread hangs and while Redis is down, and ``ok`` again once they recover."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_guardrails.rails.executor import (
    DEFAULT_RAIL_THREADS,
    configure_rail_executor,
    rail_executor_status,
)
from langchain_guardrails.server import create_app

from .health_gate import GATE
from .redis_process import RedisProcess

MAIN = "models:\n  - {type: main, engine: scripted, parameters: {default_reply: fine}}\n"
WAITS = """\
from langchain_guardrails.config.actions import action
from tests.unit_tests.server.health_gate import GATE

@action(name="waits")
def waits(text: str) -> bool:
    GATE.wait(20)  # bounded: a failing test never leaves a thread behind for long
    return True
"""
QUICK = """\
from langchain_guardrails.config.actions import action

@action(name="quick")
def quick(text: str) -> bool:
    return True
"""
ASK = {"messages": [{"role": "user", "content": "hi"}]}


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@pytest.fixture
def four_threads() -> Iterator[None]:
    GATE.clear()
    configure_rail_executor(4)
    yield
    GATE.set()
    configure_rail_executor(DEFAULT_RAIL_THREADS)


def config(root: Path, name: str, flow: str, code: str) -> None:
    (root / name).mkdir()
    (root / name / "config.yml").write_text(
        MAIN + f"rails:\n  timeout: 0.2\n  input: {{flows: [{flow}]}}\n"
    )
    (root / name / "actions.py").write_text(code)


@pytest.mark.usefixtures("four_threads")
async def test_health_degraded_while_every_rail_thread_hangs(tmp_path: Path) -> None:
    config(tmp_path, "hanging", "waits", WAITS)
    config(tmp_path, "other", "quick", QUICK)
    app = create_app(tmp_path)
    async with client(app) as http:
        before = await http.get("/health")
        hung = await asyncio.gather(
            *(http.post("/v1/chat/completions", json={**ASK, "model": "hanging"}) for _ in range(4))
        )
        # Every rail timed out and no rail waits for a thread now, but all 4 threads still
        # hang: before the fix this said {"status": "ok"}.
        during = await http.get("/health")
        other = await http.post("/v1/chat/completions", json={**ASK, "model": "other"})
        GATE.set()
        for _ in range(250):  # the threads come back at once; at most 5 s
            if not rail_executor_status()["busy"]:
                break
            await asyncio.sleep(0.02)
        after = await http.get("/health")
        other_after = await http.post("/v1/chat/completions", json={**ASK, "model": "other"})
    assert (before.status_code, before.json()) == (200, {"status": "ok"})
    for answer in hung:
        assert answer.json()["guardrails"]["reason"] == "rail 'waits' timed out after 0.2s"
    # Meanwhile another config's sync rail cannot get a thread either.
    assert other.json()["guardrails"]["reason"] == "rail 'quick' timed out after 0.2s"
    body = during.json()
    assert during.status_code == 503
    assert (body["status"], body["reasons"]) == ("degraded", ["sync_rail_pool_exhausted"])
    executor = body["rail_executor"]
    assert (executor["threads"], executor["busy"], executor["stuck"]) == (4, 4, True)
    assert executor["abandoned"] == 4
    assert (after.status_code, after.json()) == (200, {"status": "ok"})
    assert other_after.json()["choices"][0]["message"]["content"] == "fine"


async def test_health_degraded_while_redis_is_down(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text(MAIN)
    redis = RedisProcess()
    redis.start()
    try:
        app = create_app(tmp_path, max_concurrency_per_key=2, redis_url=redis.url)
        async with client(app) as http:
            up = await http.get("/health")
            redis.stop()
            down = await http.get("/health")
            refused = await http.post("/v1/chat/completions", json=ASK)
            redis.start()
            back = await http.get("/health")
            served = await http.post("/v1/chat/completions", json=ASK)
    finally:
        redis.stop()
    assert (up.status_code, up.json()) == (200, {"status": "ok"})
    # Before the fix: 200 {"status": "ok"} while every generation got 503.
    assert (down.status_code, down.json()) == (
        503,
        {"status": "degraded", "reasons": ["redis_unavailable"]},
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "limits_unavailable")
    assert (back.status_code, back.json()) == (200, {"status": "ok"})
    assert served.json()["choices"][0]["message"]["content"] == "fine"
