"""``langchain-guardrails server`` as a process: starts, serves, warns, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "tests" / "unit_tests" / "server" / "configs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_server_command_serves_until_interrupted(tmp_path: Path) -> None:
    # One good config and one that cannot be built: the server warns and serves the good one.
    configs = tmp_path / "configs"
    (configs / "good").mkdir(parents=True)
    (configs / "good" / "config.yml").write_text(
        "models:\n  - {type: main, engine: scripted, parameters: {default_reply: 'Hi there.'}}\n"
    )
    (configs / "modelless").mkdir()
    (configs / "modelless" / "config.yml").write_text("rails: {}\n")
    port = free_port()
    env = {**os.environ, "LANGCHAIN_GUARDRAILS_API_KEY": "s3cret"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langchain_guardrails",
            "server",
            "--config",
            str(configs),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
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
        body = {"model": "good", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 401
        answer = httpx.post(
            f"{url}/v1/chat/completions", json=body, headers={"Authorization": "Bearer s3cret"}
        )
        assert answer.json()["choices"][0]["message"]["content"] == "Hi there."
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert out == ""
    assert err.startswith(
        "WARNING: config 'modelless' is not served: Guardrails needs a model: pass llm=..., "
        "or add a `models` entry with `type: main`\n"
        f"Serving configs good on http://127.0.0.1:{port}/v1\n"
    )
