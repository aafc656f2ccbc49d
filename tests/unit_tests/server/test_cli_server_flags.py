"""The ``server`` command's hardening flags, end to end: ``--allowed-host``, ``--log-format
json``, ``--no-actions`` and reloading on SIGHUP (issue 13 items 9, 11, 12 and 14)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .server_process import free_port

CONFIG = "models:\n  - {type: main, engine: scripted, parameters: {default_reply: %s}}\n"
BODY = {"model": "good", "messages": [{"role": "user", "content": "hi"}]}


def test_server_flags_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "config.yml").write_text(CONFIG % "before")
    (tmp_path / "coded").mkdir()
    (tmp_path / "coded" / "config.yml").write_text(CONFIG % "never")
    (tmp_path / "coded" / "actions.py").write_text("raise SystemExit(7)\n")
    port = free_port()
    command = [
        sys.executable, "-m", "langchain_guardrails", "server", "--config", str(tmp_path),
        "--port", str(port), "--log-format", "json", "--no-actions",
        "--allowed-host", "api.test", "--body-timeout", "2",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        with httpx.Client(base_url=url, timeout=10) as http:
            named = http.post("/v1/chat/completions", json=BODY, headers={"host": "api.test"})
            foreign = http.post("/v1/chat/completions", json=BODY, headers={"host": "evil.test"})
            (tmp_path / "good" / "config.yml").write_text(CONFIG % "after!")
            process.send_signal(signal.SIGHUP)
            reloaded = ""
            for _ in range(100):  # bounded: at most about 10 s
                answer = http.post("/v1/chat/completions", json=BODY)
                reloaded = answer.json()["choices"][0]["message"]["content"]
                if reloaded == "after!":
                    break
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert named.json()["choices"][0]["message"]["content"] == "before"
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "host_not_allowed")
    assert reloaded == "after!"
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    refused = next(line for line in lines if "coded" in line["message"])
    assert refused["level"] == "WARNING"
    assert "carries Python code (actions.py)" in refused["message"]
    access = [line for line in lines if line["logger"] == "langchain_guardrails.server.access"]
    assert {(a["method"], a["route"], a["status"]) for a in access} >= {
        ("POST", "/v1/chat/completions", 200),
        ("POST", "/v1/chat/completions", 403),
    }
    assert all(len(a["request_id"]) == 32 for a in access)
