"""Issue 14 item 5: several workers on one port, per-key limits in one process or in Redis."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app

from .conftest import live_server
from .server_process import free_port, start_server, stop

SLOW = """\
models:
  - type: main
    engine: scripted
    parameters: {delay: 0.05, default_reply: "one two three four five six seven eight nine ten"}
"""
QUICK = """\
models:
  - type: main
    engine: scripted
    parameters: {delay: 0.005, default_reply: "alpha bravo charlie delta echo foxtrot golf hotel"}
"""
ASK = {"messages": [{"role": "user", "content": "go"}], "stream": True}


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scale")
    for name, text in (("slow", SLOW), ("quick", QUICK)):
        (root / name).mkdir()
        (root / name / "config.yml").write_text(text)
    return root


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def worker_count(pid: int) -> int:
    """uvicorn's worker processes under ``pid`` (spawned children; not the resource tracker)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            count += fields[1] == str(pid) and b"spawn_main" in command
    return count


async def full_stream(http: httpx.AsyncClient, token: str, model: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"}
    response = await http.post(
        "/v1/chat/completions", json={**ASK, "model": model}, headers=headers
    )
    return response.status_code, response.text


async def hold_streams(url: str, token: str, n: int) -> tuple[list[int], httpx.Response]:
    """Open ``n`` streams of one key, then one more while they run: the statuses, and the last."""
    limits = httpx.Limits(max_connections=n + 5)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        headers = {"Authorization": f"Bearer {token}"}
        body = {**ASK, "model": "slow"}
        opened = [
            http.stream("POST", "/v1/chat/completions", json=body, headers=headers)
            for _ in range(n)
        ]
        responses = await asyncio.gather(*(o.__aenter__() for o in opened))
        try:
            extra = await http.post("/v1/chat/completions", json=body, headers=headers)
        finally:
            for stream in opened:
                await stream.__aexit__(None, None, None)
        return [r.status_code for r in responses], extra


def test_two_workers_serve_200_streams_and_share_a_redis_key_limit(
    configs: Path, redis_url: str
) -> None:
    # Tokens are keys only when the server checks them (else limits count by client address).
    keys = [arg for i in range(200) for arg in ("--api-key", f"key-{i}")]
    process, url = start_server(
        configs, "--workers", "2", "--redis-url", redis_url, "--max-concurrency-per-key", "10",
        "--max-concurrency", "512", "--api-key", "one-key", *keys,
    )  # fmt: skip
    try:
        assert worker_count(process.pid) == 2

        async def burst() -> list[tuple[int, str]]:
            limits = httpx.Limits(max_connections=220)
            async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
                # One key per stream: the per-key limit does not stop any of them.
                return await asyncio.gather(
                    *(full_stream(http, f"key-{i}", "quick") for i in range(200))
                )

        results = asyncio.run(burst())
        assert [status for status, _ in results] == [200] * 200
        assert all(text.endswith("data: [DONE]\n\n") and "error" not in text
                   for _, text in results)  # fmt: skip

        statuses, extra = asyncio.run(hold_streams(url, "one-key", 10))
        assert statuses == [200] * 10
        assert extra.status_code == 429
        assert extra.headers["retry-after"] == "1"
        assert extra.json()["error"] == {
            "message": "This API key is at its limit of 10 concurrent requests; retry later",
            "type": "requests",
            "param": None,
            "code": "concurrency_limit_exceeded",
        }
        # The slots come back when the streams end.
        assert asyncio.run(hold_streams(url, "one-key", 10))[0] == [200] * 10
    finally:
        stop(process)


def test_requests_per_minute_in_redis(configs: Path, redis_url: str) -> None:
    app = create_app(
        configs, requests_per_minute_per_key=3, redis_url=redis_url, api_key=["rpm-key", "other"]
    )
    # The limit counts per calendar minute: four requests that straddle a minute's end would
    # land in two windows, so start them early in a minute.
    if time.time() % 60 > 45:
        time.sleep(60.5 - time.time() % 60)
    with live_server(app) as url:
        headers = {"Authorization": "Bearer rpm-key"}
        body = {"model": "quick", "messages": ASK["messages"]}
        statuses = [
            httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers).status_code
            for _ in range(3)
        ]
        over = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
        other = httpx.post(
            f"{url}/v1/chat/completions", json=body, headers={"Authorization": "Bearer other"}
        )
    assert statuses == [200, 200, 200]
    assert over.status_code == 429
    assert 1 <= int(over.headers["retry-after"]) <= 61
    assert over.json()["error"]["message"] == (
        "This API key is at its limit of 3 requests per minute; retry later"
    )
    assert over.json()["error"]["code"] == "rate_limit_exceeded"
    assert other.status_code == 200


def test_per_process_key_limit_without_redis(configs: Path) -> None:
    with live_server(create_app(configs, max_concurrency_per_key=2)) as url:
        statuses, extra = asyncio.run(hold_streams(url, "k", 2))
    assert statuses == [200, 200]
    assert extra.status_code == 429
    assert extra.json()["error"]["code"] == "concurrency_limit_exceeded"


def test_redis_down_refuses_rather_than_not_counting(configs: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(configs, max_concurrency_per_key=2, redis_url=dead)
    transport = httpx.ASGITransport(app=app)

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            return await http.post(
                "/v1/chat/completions", json={"model": "quick", "messages": ASK["messages"]}
            )

    response = asyncio.run(post())
    assert (response.status_code, response.json()["error"]["code"]) == (
        503,
        "limits_unavailable",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrency_per_key": 0}, "max_concurrency_per_key must be >= 1 (got 0)"),
        ({"requests_per_minute_per_key": -5}, "requests_per_minute_per_key must be >= 1 (got -5)"),
    ],
)
def test_bad_key_limits(configs: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        create_app(configs, **kwargs)
    assert str(raised.value) == message


def test_workers_must_be_positive(configs: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "langchain_guardrails", "server", "--config", str(configs),
         "--workers", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--workers must be >= 1 (got 0)" in result.stderr


def test_sigterm_lets_open_streams_finish(configs: Path) -> None:
    import signal

    process, url = start_server(configs, "--drain-timeout", "20")
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            body = {**ASK, "model": "slow"}
            with http.stream("POST", "/v1/chat/completions", json=body) as response:
                lines = response.iter_lines()
                first = next(lines)
                process.send_signal(signal.SIGTERM)
                rest = list(lines)
        assert first.startswith("data: ")
        # The stream ran to its end after SIGTERM: every word, then [DONE].
        text = "".join(
            chunk["choices"][0]["delta"].get("content", "")
            for chunk in (
                json.loads(line[6:]) for line in [first, *rest] if line.startswith("data: {")
            )
            if chunk["choices"]
        )
        assert text == "one two three four five six seven eight nine ten"
        assert [line for line in rest if line][-1] == "data: [DONE]"
        # uvicorn re-raises the signal once drained: the exit status says SIGTERM ended it.
        assert process.wait(timeout=20) == -signal.SIGTERM
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2)
    finally:
        if process.poll() is None:
            stop(process)
