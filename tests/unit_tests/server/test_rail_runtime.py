"""Issue 13 items 4 and 5: hung sync rails stay in the package's own pool (reported by
``/health``), and regex rails honour ``rails.timeout`` instead of blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_guardrails.rails.executor import DEFAULT_RAIL_THREADS, configure_rail_executor
from langchain_guardrails.server import create_app

MAIN = "models:\n  - {type: main, engine: scripted, parameters: {default_reply: ok}}\n"
HANGS = """\
import time

from langchain_guardrails.config.actions import action

@action(name="hangs")
def hangs(text: str) -> bool:
    time.sleep(1.5)
    return True
"""


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@pytest.fixture
def small_pool() -> Iterator[None]:
    configure_rail_executor(8)
    yield
    configure_rail_executor(DEFAULT_RAIL_THREADS)


@pytest.mark.usefixtures("small_pool")
async def test_hung_sync_rails_do_not_starve_the_default_executor(tmp_path: Path) -> None:
    folder = tmp_path / "hanging"
    folder.mkdir()
    (folder / "config.yml").write_text(MAIN + "rails:\n  timeout: 0.2\n  input: {flows: [hangs]}\n")
    (folder / "actions.py").write_text(HANGS)
    app = create_app(folder)
    body = {"messages": [{"role": "user", "content": "hi"}]}
    async with client(app) as http:
        hung = [asyncio.create_task(http.post("/v1/chat/completions", json=body)) for _ in range(9)]
        await asyncio.sleep(0.1)
        health = await http.get("/health")
        # Before the fix the 9 hung rails held every thread of asyncio's default executor
        # (6 on this machine): this timed out.
        free = await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 1.0)
        answers = await asyncio.gather(*hung)
    assert free == "free"
    assert health.status_code == 503
    status = health.json()
    assert (status["status"], status["rail_executor"]["threads"]) == ("degraded", 8)
    assert (status["rail_executor"]["busy"], status["rail_executor"]["stuck"]) == (8, True)
    for answer in answers:
        guard = answer.json()["guardrails"]
        assert (guard["blocked"], guard["rail"]) == (True, "hangs")
        assert guard["reason"] == "rail 'hangs' timed out after 0.2s"


async def test_catastrophic_regex_times_out_and_blocks(tmp_path: Path) -> None:
    folder = tmp_path / "backtracking"
    folder.mkdir()
    (folder / "config.yml").write_text(
        MAIN + "rails:\n  timeout: 0.1\n  input: {flows: [regex check input]}\n"
        "  config:\n    regex_detection:\n      input: {patterns: ['^(a|aa)+$']}\n"
    )
    app = create_app(folder)
    body = {"messages": [{"role": "user", "content": "a" * 34 + "b"}]}
    async with client(app) as http:
        checked = await http.post("/v1/guardrail/checks", json=body)
    result = checked.json()
    # Before the fix the match ran for seconds on the event loop, then passed.
    assert (result["status"], result["rail"]) == ("blocked", "regex check input")
    assert result["reason"] == "rail 'regex check input' timed out after 0.1s"
