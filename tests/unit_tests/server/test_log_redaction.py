"""Issue 20 item 6: failures are logged without the text they quote.

A rail that raises ``ValueError(window_text)`` wrote the unreleased window into the server log
(through ``exc_info``, chained causes included), as plain-text lines that bypassed
``--log-format json``; a model stream failing on a malformed chunk logged the chunk's text the
same way. Now the log holds the exception type and its frames, every message redacted, in the
server's format.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from langchain_guardrails.llm import register_engine
from langchain_guardrails.observability.safe_logging import REDACTED, redacted_traceback
from langchain_guardrails.server import create_app
from langchain_guardrails.server.operations.log_setup import _StderrHandler, log_server_to_stderr
from langchain_guardrails.testing import FakeStreamingChatModel

from .server_process import free_port

ANSWER = "The password is hunter2 and the vault pin is 4242 for the north door."
WINDOW_WORDS = ("password", "hunter2", "4242", "vault", "north door")
LEAKY_CONFIG = """\
models:
  - {type: main, engine: scripted, parameters: {default_reply: "%s"}}
rails:
  output:
    flows: [parse window]
    streaming: {enabled: true, chunk_size: 4, context_size: 1, stream_first: false}
"""
PARSING_RAIL = """\
from langchain_guardrails.config.actions import action


def _lookup(text: str) -> str:
    return {"known": "ok"}[text]


@action(name="parse window")
def parse_window(text: str) -> bool:
    try:
        _lookup(text)
    except KeyError as exc:
        raise ValueError(f"could not parse window: {text!r}") from exc
    return True
"""


def test_rail_exception_is_logged_as_json_without_window_text(tmp_path: Path) -> None:
    (tmp_path / "leaky").mkdir()
    (tmp_path / "leaky" / "config.yml").write_text(LEAKY_CONFIG % ANSWER)
    (tmp_path / "leaky" / "actions.py").write_text(PARSING_RAIL)
    port = free_port()
    command = [
        sys.executable, "-m", "langchain_guardrails", "server", "--config", str(tmp_path),
        "--port", str(port), "--log-format", "json",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    body = {"model": "leaky", "messages": [{"role": "user", "content": "hi"}]}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=10) as http:
            whole = http.post("/v1/chat/completions", json=body).json()
            streamed = http.post("/v1/chat/completions", json={**body, "stream": True}).text
    finally:
        process.send_signal(2)  # SIGINT: uvicorn's graceful stop
        _, err = process.communicate(timeout=30)
    assert whole["choices"][0]["message"]["content"] == "I'm sorry, I can't respond to that."
    assert {k: whole["guardrails"][k] for k in ("rail", "reason", "type")} == {
        "rail": "parse window",
        "reason": "rail 'parse window' failed: ValueError",
        "type": "internal_error",
    }
    assert '"finish_reason":"content_filter"' in streamed
    # Every line on stderr is one JSON object (uvicorn's and the startup line included) ...
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert any(line["message"].startswith("Serving configs leaky on") for line in lines)
    # ... no part of the window is anywhere in it ...
    for word in WINDOW_WORDS:
        assert word not in err
    # ... and the rail's failures (one per request) name the rail and the exception type, with
    # the frames of the whole chain and every message redacted.
    failures = [line for line in lines if "traceback" in line]
    assert len(failures) == 2
    for failure in failures:
        assert {k: failure[k] for k in ("level", "logger", "message", "rail", "stage")} == {
            "level": "WARNING",
            "logger": "langchain_guardrails",
            "message": "rail 'parse window' (output) failed: ValueError",
            "rail": "parse window",
            "stage": "output",
        }
        assert failure["exception_type"] == "ValueError"
        trace = failure["traceback"]
        assert f"KeyError: {REDACTED}\n" in trace
        assert "The above exception was the direct cause of the following exception:" in trace
        assert trace.endswith(f"ValueError: {REDACTED}\n")
        assert "in parse_window" in trace and "in _lookup" in trace


# -- a model stream that fails on a malformed chunk -------------------------------------------

UNRELEASED = "{'content': {'text': 'the vault pin is 4242'}}"


class MalformedChunkModel(FakeStreamingChatModel):
    """Streams its text, then fails the way a parser does on a malformed chunk: quoting it."""

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=AIMessageChunk(content="Here it comes: "))
        try:
            raise TypeError(f"content must be a string, got {UNRELEASED}")
        except TypeError as exc:
            raise ValueError(f"malformed upstream chunk: {UNRELEASED}") from exc


register_engine("malformed_chunk", lambda config: MalformedChunkModel(**config.parameters))


@contextmanager
def server_log(json_lines: bool) -> Iterator[None]:
    """The CLI server's stderr log handler, in the format asked for; removed afterwards."""
    package = logging.getLogger("langchain_guardrails")
    level = package.level
    log_server_to_stderr(json_lines=json_lines)
    try:
        yield
    finally:
        for handler in [h for h in package.handlers if isinstance(h, _StderrHandler)]:
            package.removeHandler(handler)
        package.setLevel(level)


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_malformed_chunk_failure_is_logged_without_model_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stream: bool, log_format: str
) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.yml").write_text(
        "models:\n  - {type: main, engine: malformed_chunk}\n"
    )
    app = create_app(tmp_path)
    capsys.readouterr()
    with server_log(json_lines=log_format == "json"):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        ) as http:
            body = {"messages": [{"role": "user", "content": "hi"}], "stream": stream}
            response = await http.post("/v1/chat/completions", json=body)
    error = {
        "message": "The guarded generation failed (ValueError); see the server log",
        "type": "server_error",
        "param": None,
        "code": "generation_failed",
    }
    if stream:
        assert f"data: {json.dumps({'error': error}, separators=(',', ':'))}" in response.text
    else:
        assert (response.status_code, response.json()) == (500, {"error": error})
    err = capsys.readouterr().err
    assert "4242" not in err and "vault" not in err
    if log_format == "json":
        (failure,) = [json.loads(line) for line in err.splitlines() if "traceback" in line]
        assert (failure["level"], failure["exception_type"]) == ("ERROR", "ValueError")
        trace = failure["traceback"]
    else:
        assert err.startswith("ERROR: chat completion ")
        trace = err
    assert f"TypeError: {REDACTED}\n\nThe above exception was the direct cause" in trace
    assert 'raise ValueError(f"malformed upstream chunk: {UNRELEASED}") from exc\n' in trace
    assert f"ValueError: {REDACTED}\n" in trace


def test_redacted_traceback_keeps_frames_and_the_chain() -> None:
    secret = "hunter2"

    def fail(text: str) -> None:
        raise KeyError(text)

    try:
        try:
            fail(secret)
        except KeyError:
            raise RuntimeError(f"while handling {secret}") from None
    except RuntimeError as exc:
        suppressed = redacted_traceback(exc)
    # ``from None``: the context is not shown, as Python does not show it.
    assert "KeyError" not in suppressed and secret not in suppressed
    assert suppressed.startswith("Traceback (most recent call last):\n")
    assert suppressed.endswith(f"RuntimeError: {REDACTED}\n")

    try:
        try:
            fail(secret)
        except KeyError:
            raise ExceptionGroup(secret, [ValueError(secret), TypeError()])  # noqa: B904
    except ExceptionGroup as exc:
        grouped = redacted_traceback(exc)
    assert secret not in grouped
    assert "in fail\n    raise KeyError(text)\n" in grouped
    assert f"KeyError: {REDACTED}\n" in grouped
    assert "During handling of the above exception, another exception occurred:" in grouped
    assert f"ExceptionGroup: {REDACTED}\n  +-- 1 --\n  | ValueError: {REDACTED}\n" in grouped
    assert grouped.endswith("  +-- 2 --\n  | TypeError\n")
