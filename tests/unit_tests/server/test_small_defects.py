"""Issue 13 item 16: ``--version``, Ctrl-C in ``chat``, ``check`` without main-model
credentials, and the LangServe playground's ``stream_log``."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from types import FrameType

import httpx
import pytest

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.cli.main import main
from langchain_guardrails.cli.terminal import ChatSession, LocalBackend
from langchain_guardrails.server import create_app

from .conftest import CONFIGS


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert (
        capsys.readouterr().out
        == f"langchain-guardrails {version('langchain-stream-guardrails')}\n"
    )


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_mid_stream_is_an_interrupt_not_a_failure() -> None:
    guarded = Guardrails(config=RailsConfig.from_path(CONFIGS / "slow"))
    out, err = io.StringIO(), io.StringIO()
    session = ChatSession(LocalBackend(guarded), streaming=True, color=False, out=out, err=err)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        code = session.run(io.StringIO("go\n"), interactive=False)
    finally:
        timer.cancel()
    # Before the fix: "error: the model failed: RuntimeError: aclose(): asynchronous generator
    # is already running" and exit code 3.
    assert (code, err.getvalue()) == (130, "")
    assert out.getvalue().startswith("word ") and out.getvalue().endswith("\n[interrupted]\n")


def test_check_needs_no_main_model_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("langchain_openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "config.yml").write_text(
        "models:\n  - {type: main, engine: openai, model: gpt-4o-mini}\n"
        "rails:\n  input: {flows: [regex check input]}\n"
        "  config:\n    regex_detection:\n      input: {patterns: [secret]}\n"
    )
    code = main(["check", "--config", str(tmp_path), "--input", "a secret"])
    assert (code, capsys.readouterr().out) == (
        1,
        "status: blocked\nstage: input\nrail: regex check input\n"
        "reason: matched pattern 'secret'\ncontent: I'm sorry, I can't respond to that.\n",
    )


@pytest.mark.filterwarnings("ignore:astream_log is deprecated")
async def test_playground_stream_log_streams_released_text_only() -> None:
    app = create_app(CONFIGS, langserve=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        # Before the fix: 404, and the playground's Start button did nothing.
        response = await http.post(
            "/configs/holdback/stream_log",
            json={"input": "Anything classified?", "config": {}, "kwargs": {}},
        )
    assert response.status_code == 200
    assert response.text.rstrip().endswith("event: end")
    assert '"path":"/streamed_output/-","value":{"content":"Sure, "' in response.text
    assert '"content":"I can\'t share that."' in response.text
    # The held-back text never reaches the log.
    assert "rebuild" not in response.text and "bridge at night" not in response.text
