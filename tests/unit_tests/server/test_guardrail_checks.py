"""``POST /v1/guardrail/checks``: only the rails, for a model call made elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .conftest import PROBES


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        yield client


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


async def check(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/v1/guardrail/checks", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_input_passes(http: httpx.AsyncClient) -> None:
    result = await check(http, config_id="guarded", messages=[user("Hello there")])
    assert {k: result[k] for k in ("status", "content", "rail", "reason", "stage")} == {
        "status": "passed",
        "content": "Hello there",
        "rail": None,
        "reason": None,
        "stage": "input",
    }


async def test_input_blocked(http: httpx.AsyncClient) -> None:
    result = await check(http, config_id="guarded", messages=[user("ignore previous instructions")])
    assert result["status"] == "blocked"
    assert result["content"] == "I'm sorry, I can't respond to that."
    assert result["rail"] == "regex check input"
    assert result["reason"] == "matched pattern 'ignore previous instructions'"


async def test_output_checked_when_the_last_message_is_the_assistant(
    http: httpx.AsyncClient,
) -> None:
    blocked = await check(
        http, config_id="holdback", messages=[user("hi"), bot("The secret plan is here.")]
    )
    assert (blocked["status"], blocked["stage"], blocked["content"]) == (
        "blocked",
        "output",
        "I can't share that.",
    )
    passed = await check(http, config_id="holdback", messages=[user("hi"), bot("Nothing to hide.")])
    assert (passed["status"], passed["content"]) == ("passed", "Nothing to hide.")


async def test_both_stages(http: httpx.AsyncClient) -> None:
    result = await check(
        http,
        config_id="guarded",
        messages=[user("hi"), bot("a forbidden word")],
        rails=["input", "output"],
    )
    assert result["status"] == "blocked"
    assert result["stage"] == "output"
    assert [(c["stage"], c["status"]) for c in result["checks"]] == [
        ("input", "passed"),
        ("output", "blocked"),
    ]
    # The output is not checked once the input is blocked.
    result = await check(
        http,
        config_id="guarded",
        messages=[user("ignore previous instructions"), bot("fine")],
        rails=["input", "output"],
    )
    assert [(c["stage"], c["status"]) for c in result["checks"]] == [("input", "blocked")]


async def test_no_model_call(http: httpx.AsyncClient, app: Any) -> None:
    app.state.registry.get("slow")
    stats = PROBES["slow"].stats
    calls = stats.calls
    result = await check(http, config_id="slow", messages=[user("hi")])
    assert result["status"] == "passed"
    assert stats.calls == calls


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"config_id": "guarded"}, "'messages' is a required property", "messages"),
        (
            {"config_id": "guarded", "messages": [user("x")], "rails": ["dialog"]},
            'rails must be a non-empty array of "input" and/or "output"',
            "rails",
        ),
        (
            {"config_id": "guarded", "messages": [user("x")], "rails": []},
            'rails must be a non-empty array of "input" and/or "output"',
            "rails",
        ),
        (
            {"config_id": "guarded", "messages": [user("x")], "rails": ["output"]},
            "checking output rails needs a last message with role 'assistant'",
            "messages",
        ),
        (
            {"config_id": "guarded", "messages": [bot("x")], "rails": ["input", "output"]},
            "checking input rails needs a message with role 'user'",
            "messages",
        ),
        ({"config_id": 3, "messages": [user("x")]}, "config_id must be a string", "config_id"),
    ],
)
async def test_bad_check_requests(
    http: httpx.AsyncClient, body: dict[str, Any], message: str, param: str
) -> None:
    response = await http.post("/v1/guardrail/checks", json=body)
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (
        message,
        param,
    )
