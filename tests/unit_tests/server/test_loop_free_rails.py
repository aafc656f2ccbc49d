"""Issue 21 items 6 and 7: a runaway regex rail and a runaway prompt template fail closed at
their rail's timeout (``internal_error``) while the event loop keeps serving ``/health``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from langchain_guardrails.server import create_app

MAIN = "models:\n  - {type: main, engine: scripted, parameters: {default_reply: fine}}\n"
RUNAWAY_REGEX = MAIN + (
    "rails:\n  timeout: 1.5\n  input: {flows: [regex check input]}\n"
    "  config:\n    regex_detection:\n      input: {patterns: ['^(a|aa)+$', 'never']}\n"
)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def test_runaway_regex_leaves_the_loop_serving(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text(RUNAWAY_REGEX)
    app = create_app(tmp_path)
    body = {"messages": [{"role": "user", "content": "a" * 40 + "!"}]}
    sane = {"messages": [{"role": "user", "content": "aaaa"}]}
    async with client(app) as http:
        await http.post("/v1/guardrail/checks", json=sane)  # the config is built
        started = time.perf_counter()
        checks = [
            asyncio.create_task(http.post("/v1/guardrail/checks", json=body)) for _ in range(10)
        ]
        # From the moment /health is due (every check is matching by then) to its answer:
        # a blocked loop delays the wake-up as much as the request.
        await asyncio.sleep(0.2)
        health = await http.get("/health")
        seconds = time.perf_counter() - started - 0.2
        results = [(await check).json() for check in checks]
        elapsed = time.perf_counter() - started
        fine = await http.post("/v1/guardrail/checks", json=sane)
    # Before the fix the 10 matches held the loop one after the other: /health took ~15 s.
    assert health.json() == {"status": "ok"}
    assert seconds < 1.0
    assert elapsed < 5.0  # the 10 ran side by side, each up to its 1.5 s timeout
    for result in results:
        assert (result["status"], result["rail"]) == ("blocked", "regex check input")
        assert result["reason"] == "rail 'regex check input' timed out after 1.5s"
        assert result["checks"][-1]["metadata"]["type"] == "internal_error"
    # A sane text still matches on the loop, and a match blocks with the pattern named.
    assert (fine.json()["status"], fine.json()["reason"]) == (
        "blocked",
        "matched pattern '^(a|aa)+$'",
    )


RUNAWAY_PROMPT = MAIN + (
    "rails:\n  timeout: 5\n  input: {flows: [self check input]}\n"
    "prompts:\n  - task: self_check_input\n    content: >-\n"
    "      {% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    "{{ user_input }}\n"
)


async def test_runaway_prompt_template_leaves_the_loop_serving(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text(RUNAWAY_PROMPT)
    app = create_app(tmp_path, preload=True)  # built now: the checks start rendering at once
    body = {"messages": [{"role": "user", "content": "hi"}]}
    async with client(app) as http:
        started = time.perf_counter()
        checks = [
            asyncio.create_task(http.post("/v1/guardrail/checks", json=body)) for _ in range(4)
        ]
        await asyncio.sleep(0.2)
        health = await http.get("/health")
        seconds = time.perf_counter() - started - 0.2
        results = [(await check).json() for check in checks]
    # Before the fix each render held the loop (100 million loop steps, seconds each).
    assert health.json() == {"status": "ok"}
    assert seconds < 1.0
    for result in results:
        assert (result["status"], result["rail"]) == ("blocked", "self check input")
        assert result["reason"] == "rail 'self check input' failed: ValueError"
        assert result["checks"][-1]["metadata"]["type"] == "internal_error"
