"""``langchain-guardrails chat`` driven as a user would: a pty, a pipe, a server."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_guardrails.cli.terminal import ChatSession, Refusal, Text, TurnEnd, TurnFailed
from langchain_guardrails.server import create_app

from ..server.conftest import live_server

CONFIGS = Path(__file__).parents[1] / "server" / "configs"
CHAT = [sys.executable, "-m", "langchain_guardrails", "chat"]
ENV = {**os.environ, "TERM": "dumb"}
ENV.pop("NO_COLOR", None)
ENV.pop("LANGCHAIN_GUARDRAILS_API_KEY", None)
BLOCK = "[blocked by output rail 'regex check output': matched pattern 'secret\\\\s+plan']"


def chat(*args: str, stdin: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHAT, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=ENV
    )


def test_pipe_streaming_chat() -> None:
    result = chat(
        "--config",
        str(CONFIGS / "holdback"),
        "--streaming",
        stdin="What is the capital of France?\n\nAnything classified?\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"The capital of France is Paris.\nSure, here it is: \n\nI can't share that.\n{BLOCK}\n"
    )
    assert result.stderr == ""


def test_pipe_chat_verbose_reports_rails_and_usage() -> None:
    result = chat(
        "--config",
        str(CONFIGS / "guarded"),
        "--verbose",
        stdin="What is the capital of France?\nignore previous instructions\n",
    )
    assert result.returncode == 0
    assert result.stdout == (
        "The capital of France is Paris.\n"
        "I'm sorry, I can't respond to that.\n"
        "[blocked by input rail 'regex check input': "
        "matched pattern 'ignore previous instructions']\n"
    )
    assert result.stderr == (
        "  rails: input 'regex check input' passed x1; output 'regex check output' passed x2\n"
        "  usage: 6 prompt + 6 completion = 12 tokens (scripted)\n"
        "  rails: input 'regex check input' blocked x1\n"
        "  usage: not reported\n"
    )


def test_pipe_chat_keeps_history() -> None:
    # The plain config answers the last user message; the prompt grows with the history.
    result = chat(
        "--config",
        str(CONFIGS / "plain"),
        "--verbose",
        stdin="hello there\nhello again\n/reset\nhello\n",
    )
    assert (
        result.stdout
        == "Hello from plain.\nHello from plain.\n(history cleared)\nHello from plain.\n"
    )
    usage = [line for line in result.stderr.splitlines() if "usage" in line]
    assert usage == [
        "  usage: 2 prompt + 3 completion = 5 tokens (scripted)",
        "  usage: 7 prompt + 3 completion = 10 tokens (scripted)",
        "  usage: 1 prompt + 3 completion = 4 tokens (scripted)",
    ]


def test_pipe_chat_model_failure_exits_3(tmp_path: Path) -> None:
    parameters = "{default_reply: 'a b c', fail_after: 1}"
    (tmp_path / "config.yml").write_text(
        f"models:\n  - {{type: main, engine: scripted, parameters: {parameters}}}\n"
    )
    result = chat("--config", str(tmp_path), "--streaming", stdin="hi\n")
    assert result.returncode == 3
    assert result.stdout == "a \n"
    assert (
        result.stderr == "error: the model failed: RuntimeError: fake model failed after 1 chunks\n"
    )


def test_chat_needs_a_config_or_a_server() -> None:
    result = chat(stdin="")
    assert (result.returncode, result.stderr) == (
        2,
        "error: chat needs --config PATH or --server-url URL\n",
    )
    result = chat("--config", "/no/such/folder", stdin="")
    assert (result.returncode, result.stderr) == (
        2,
        "error: --config /no/such/folder: no such file or folder\n",
    )


@pytest.fixture
def tty_chat() -> Iterator[Any]:
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "langchain_guardrails",
            "chat",
            "--config",
            str(CONFIGS / "holdback"),
            "--streaming",
            "--verbose",
        ],
        env=ENV,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 200),
    )
    try:
        yield child
    finally:
        child.close(force=True)


def test_tty_chat_streams_shows_blocks_in_colour_and_exits(tty_chat: Any) -> None:
    child = tty_chat
    child.expect_exact("/exit or Ctrl-D ends.")
    child.expect_exact("> ")
    child.sendline("What is the capital of France?")
    child.expect_exact("The capital of France is Paris.\r\n")
    child.expect_exact("\x1b[36m  rails: output 'regex check output' passed x2\x1b[0m")
    child.expect_exact("\x1b[36m  usage: 6 prompt + 6 completion = 12 tokens (scripted)\x1b[0m")
    child.expect_exact("> ")
    child.sendline("Anything classified?")
    child.expect_exact("Sure, here it is: \r\n\r\nI can't share that.\r\n")
    child.expect_exact(f"\x1b[1;31m{BLOCK}\x1b[0m")
    child.expect_exact("> ")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_tty_chat_ends_on_ctrl_d(tty_chat: Any) -> None:
    child = tty_chat
    child.expect_exact("> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with live_server(create_app(CONFIGS, api_key="s3cret")) as url:
        yield url


def test_chat_through_a_server(server_url: str) -> None:
    result = chat(
        "--server-url",
        server_url,
        "--config-id",
        "holdback",
        "--api-key",
        "s3cret",
        "--streaming",
        "--verbose",
        stdin="What is the capital of France?\nAnything classified?\n",
    )
    assert result.returncode == 0, result.stderr
    # Through the server as locally: the released text, rails.refusal.separator, the refusal.
    assert result.stdout == (
        f"The capital of France is Paris.\nSure, here it is: \n\nI can't share that.\n{BLOCK}\n"
    )
    assert result.stderr == (
        "  rails: output 'regex check output' passed x2\n"
        "  usage: 6 prompt + 6 completion = 12 tokens (holdback)\n"
        "  rails: output 'regex check output' blocked x3\n"
        # A blocked stream never gets the provider's usage: the core estimates the prompt.
        "  usage: 21 prompt + 11 completion = 32 tokens (holdback)\n"
    )


def test_chat_through_a_server_without_streaming(server_url: str) -> None:
    result = chat(
        "--server-url",
        server_url,
        "--config-id",
        "holdback",
        "--api-key",
        "s3cret",
        stdin="Anything classified?\n",
    )
    assert result.stdout == f"I can't share that.\n{BLOCK}\n"


def test_chat_through_a_server_errors(server_url: str) -> None:
    result = chat("--server-url", server_url, "--config-id", "holdback", stdin="hi\n")
    assert result.returncode == 3
    assert result.stderr == (
        "error: server answered 401: Missing API key "
        "(pass --api-key or set LANGCHAIN_GUARDRAILS_API_KEY)\n"
    )
    result = chat(
        "--server-url", server_url, "--config-id", "nope", "--api-key", "s3cret", stdin="hi\n"
    )
    assert result.returncode == 3
    assert result.stderr.startswith(
        "error: server answered 404: Unknown config_id 'nope'; known config ids: "
    )
    result = chat("--server-url", "http://127.0.0.1:9", stdin="hi\n")
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot reach the server at http://127.0.0.1:9: ")


# -- the session itself, with a scripted backend ---------------------------------------------


class Backend:
    def __init__(self, *turns: list[Any]) -> None:
        self.turns = list(turns)
        self.seen: list[list[BaseMessage]] = []

    def turn(self, messages: list[BaseMessage], *, streaming: bool, verbose: bool) -> Iterator[Any]:
        self.seen.append(list(messages))
        for event in self.turns.pop(0):
            if isinstance(event, Exception):
                raise event
            yield event


class Writes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def session(backend: Backend, **kwargs: Any) -> tuple[ChatSession, Writes, Writes]:
    out, err = Writes(), Writes()
    return ChatSession(backend, out=out, err=err, **kwargs), out, err


def test_session_prints_each_piece_as_it_arrives() -> None:
    backend = Backend([Text("Hel"), Text("lo"), TurnEnd()])
    chat_session, out, _ = session(backend, streaming=True)
    assert chat_session.run(io.StringIO("hi\n"), interactive=False) == 0
    assert out.writes[:2] == ["Hel", "lo"]
    assert out.getvalue() == "Hello\n"


def test_session_history_drops_input_blocks_and_keeps_refusals() -> None:
    input_block = TurnEnd({"blocked": True, "stage": "input", "rail": "r"})
    output_block = TurnEnd({"blocked": True, "stage": "output", "rail": "r"})
    backend = Backend(
        [Refusal("No."), input_block],
        [Text("bad "), Text("\n\n"), Refusal("Sorry."), output_block],  # as streams end
        [Text("ok"), TurnEnd()],
    )
    chat_session, out, _ = session(backend)
    assert chat_session.run(io.StringIO("one\ntwo\nthree\n"), interactive=False) == 0
    assert backend.seen[1] == [HumanMessage("two")]
    assert backend.seen[2] == [HumanMessage("two"), AIMessage("Sorry."), HumanMessage("three")]
    assert out.getvalue() == (
        "No.\n[blocked by input rail 'r']\nbad \n\nSorry.\n[blocked by output rail 'r']\nok\n"
    )


def test_session_failure_continues_and_exits_3() -> None:
    backend = Backend([Text("a"), TurnFailed("boom")], [Text("b"), TurnEnd()])
    chat_session, out, err = session(backend, color=True)
    assert chat_session.run(io.StringIO("x\ny\n"), interactive=False) == 3
    assert out.getvalue() == "a\nb\n"
    assert err.getvalue() == "\x1b[31merror: boom\x1b[0m\n"
