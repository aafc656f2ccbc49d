"""A rail that raises or times out blocks with a reason naming the rail and the exception type
only; the window text its exception may quote goes to the log, never to a client."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from langchain_guardrails import Guardrails, GuardrailsViolation, RailsConfig, action
from langchain_guardrails.testing import FakeStreamingChatModel

SECRET = "hunter2"
CHUNKS = ["The ", "admin ", "password ", "is ", SECRET, " and ", "that ", "is ", "all."]


@action(name="fragile")
def fragile(text: str) -> bool:
    if SECRET in text:
        float(text)  # ValueError: could not convert string to float: '...hunter2...'
    return True


@action(name="slow")
async def slow(text: str) -> bool:
    if SECRET in text:
        await asyncio.sleep(5)
    return True


def rails(flow: str, *, exceptions: bool = False) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "enable_rails_exceptions": exceptions,
            "rails": {
                "timeout": 0.2,
                "output": {
                    "flows": [flow],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 3,
                        "context_size": 1,
                        "stream_first": False,
                    },
                },
            },
        }
    )


@pytest.mark.parametrize(
    ("flow", "reason"),
    [
        ("fragile", "rail 'fragile' failed: ValueError"),
        ("slow", "rail 'slow' timed out after 0.2s"),
    ],
)
async def test_failing_rail_blocks_without_quoting_the_text(
    flow: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=CHUNKS), config=rails(flow), actions=[fragile, slow]
    )
    with caplog.at_level(logging.WARNING, logger="langchain_guardrails"):
        chunks = [c async for c in guarded.astream("pw?")]
    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["type"], guard["rail"], guard["reason"]) == ("internal_error", flow, reason)
    assert SECRET not in repr(chunks)
    (record,) = [r for r in caplog.records if r.name == "langchain_guardrails"]
    assert record.levelno == logging.WARNING
    if flow == "fragile":
        # The log has the type and the frames, never the message (it quotes the window).
        assert record.exc_info is None
        assert record.exc_text is not None and record.exc_text.endswith(
            "ValueError: [message redacted]\n"
        )
        # (A frame's source line is code, and its comment names the secret: the window text
        # around it is what must not appear.)
        assert "password is" not in caplog.text
        assert f"{SECRET} and" not in caplog.text


def test_violation_message_carries_no_text() -> None:
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=CHUNKS),
        config=rails("fragile", exceptions=True),
        actions=[fragile],
    )
    with pytest.raises(GuardrailsViolation) as error:
        guarded.invoke("pw?")
    assert str(error.value) == (
        "Blocked by output rail 'fragile': rail 'fragile' failed: ValueError"
    )


def folder(tmp_path: Path) -> Path:
    config = tmp_path / "configs" / "fragile"
    config.mkdir(parents=True)
    (config / "config.yml").write_text(
        "models:\n"
        "  - {type: main, engine: scripted, parameters: {default_reply: "
        f"'The admin password is {SECRET} and that is all.'}}}}\n"
        "rails:\n"
        "  output:\n"
        "    flows: [fragile]\n"
        "    streaming: {enabled: true, chunk_size: 3, context_size: 1, stream_first: false}\n"
    )
    (config / "actions.py").write_text(
        "from langchain_guardrails import action\n\n"
        "@action(name='fragile')\n"
        "def fragile(text: str) -> bool:\n"
        f"    if {SECRET!r} in text:\n"
        "        float(text)\n"
        "    return True\n"
    )
    return tmp_path / "configs"


@pytest.mark.requires("fastapi")
@pytest.mark.parametrize("stream", [True, False])
async def test_server_bodies_carry_no_text_of_a_failing_rail(tmp_path: Path, stream: bool) -> None:
    import httpx

    from langchain_guardrails.server import create_app

    app = create_app(folder(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.post(
            "/v1/chat/completions",
            json={
                "model": "fragile",
                "messages": [{"role": "user", "content": "pw?"}],
                "stream": stream,
            },
        )
    body: Any = response.text
    assert response.status_code == 200
    assert SECRET not in body
    if stream:
        from tests.unit_tests.server.conftest import sse_json

        events = sse_json(body)
        guard = events[-1]["guardrails"]
        assert events[-1]["choices"][0]["finish_reason"] == "content_filter"
    else:
        guard = response.json()["guardrails"]
        assert response.json()["choices"][0]["message"]["content"] == (
            "I'm sorry, I can't respond to that."
        )
    assert (guard["type"], guard["reason"]) == (
        "internal_error",
        "rail 'fragile' failed: ValueError",
    )
