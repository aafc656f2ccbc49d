"""Issue 21 items 1-3: workers, Redis slots and the drain under faults, with real processes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from .server_process import start_server, stop
from .test_scale_out import ASK, SLOW, hold_streams, redis_url

__all__ = ["redis_url"]  # the fixture, shared with test_scale_out

VERSION = """\
models:
  - type: main
    engine: scripted
    parameters: {delay: 0.001, default_reply: "%s"}
"""
WORDS = " ".join(f"w{i}" for i in range(60))
LONG = f"""\
models:
  - type: main
    engine: scripted
    parameters: {{delay: 0.2, default_reply: "{WORDS}"}}
"""
QUICK = VERSION % "alpha bravo"
REQUESTS = re.compile(
    r'^guardrails_requests_total\{route="/v1/chat/completions",status="200"\} (\S+)$', re.M
)


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    named = {"versioned": VERSION % "version one", "long": LONG, "quick": QUICK, "slow": SLOW}
    for name, text in named.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yml").write_text(text)
    return tmp_path


def worker_pids(pid: int) -> set[int]:
    """uvicorn's worker processes under ``pid`` (spawned children; not the resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if fields[1] == str(pid) and b"spawn_main" in command:
                found.add(int(entry.name))
    return found


def answer(url: str, model: str, token: str | None = None) -> tuple[int, str]:
    """One whole completion on a fresh connection (so the workers take turns)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"model": model, "messages": ASK["messages"]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    if response.status_code != 200:
        return response.status_code, response.json()["error"]["code"]
    return 200, response.json()["choices"][0]["message"]["content"]


def answered(metrics: str) -> float:
    """Chat completions answered 200, as ``/metrics`` counts them (0 before the first)."""
    found = REQUESTS.search(metrics)
    return float(found.group(1)) if found else 0.0


def test_metrics_are_the_sum_over_workers_and_never_go_backwards(configs: Path) -> None:
    process, url = start_server(configs, "--workers", "2")
    try:
        seen = []
        for _ in range(16):
            assert answer(url, "quick") == (200, "alpha bravo")
            seen.append(answered(httpx.get(f"{url}/metrics", timeout=10).text))
        # Every scrape counts every answer so far, whichever worker gave it or takes the scrape.
        assert seen == [float(n) for n in range(1, 17)]
        # A killed worker's counts stay in the sum; its streams in progress do not.
        for pid in worker_pids(process.pid):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(worker_pids(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"{url}/metrics", timeout=5).text
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answered(text) == 16.0
        assert "guardrails_active_streams 0.0" in text
    finally:
        stop(process)


def test_reload_and_sighup_reach_every_worker_and_keep_a_working_version(
    configs: Path,
) -> None:
    process, url = start_server(configs, "--workers", "2")
    try:
        pids = worker_pids(process.pid)
        assert len(pids) == 2
        assert {answer(url, "versioned") for _ in range(12)} == {(200, "version one")}
        (configs / "versioned" / "config.yml").write_text(VERSION % "version two")
        reloaded = httpx.post(f"{url}/v1/rails/configs/reload", json={}, timeout=30).json()
        # Every answer after the reload's answer comes from the new version.
        assert [answer(url, "versioned") for _ in range(16)] == [(200, "version two")] * 16
        assert reloaded == {
            "reloaded": ["versioned"],
            "unchanged": ["long", "quick", "slow"],
            "removed": [],
            "errors": {},
            "workers": {"total": 2, "reloaded": 2},
        }

        # A new version that does not build, then SIGHUP: the old version serves on.
        (configs / "versioned" / "config.yml").write_text("models: &a [*a]\n")
        process.send_signal(signal.SIGHUP)
        error = "config 'versioned' could not be loaded (ConfigError); see the server log"
        expected = [{"id": "long"}, {"id": "quick"}, {"id": "slow"},
                    {"id": "versioned", "reload_error": error}]  # fmt: skip
        deadline = time.monotonic() + 20
        listed: list[object] = []
        while time.monotonic() < deadline:
            listed = [httpx.get(f"{url}/v1/rails/configs", timeout=5).json() for _ in range(8)]
            if listed == [expected] * 8:
                break
            time.sleep(0.2)
        assert listed == [expected] * 8
        assert [answer(url, "versioned") for _ in range(16)] == [(200, "version two")] * 16
        assert worker_pids(process.pid) == pids  # reloaded in place, not restarted
    finally:
        stop(process)


LEASE_FLAGS = ("--redis-lease-seconds", "2", "--max-concurrency-per-key", "3", "--api-key", "k")


@pytest.fixture
def lease_servers(
    configs: Path, redis_url: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """Two servers sharing one Redis: one to be killed while it holds slots (one worker,
    SIGKILL), one (two workers) that serves the key on; their URLs."""
    redis.Redis.from_url(redis_url).flushdb()
    holder, holder_url = start_server(configs, "--redis-url", redis_url, *LEASE_FLAGS)
    try:
        process, url = start_server(
            configs, "--workers", "2", "--redis-url", redis_url, *LEASE_FLAGS
        )
        try:
            yield holder, holder_url, url
            holder.kill()
        finally:
            stop(process)
    finally:
        holder.kill()
        holder.wait(timeout=10)


def kill_holding(holder: subprocess.Popen[bytes], url: str, n: int) -> float:
    """Open ``n`` long streams of key ``k`` on the server at ``url``, SIGKILL its process (the
    worker holding their slots); the time of the kill."""

    async def hold_and_kill() -> float:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            body = {**ASK, "model": "long"}
            headers = {"Authorization": "Bearer k"}
            streams = [
                http.stream("POST", "/v1/chat/completions", json=body, headers=headers)
                for _ in range(n)
            ]
            responses = await asyncio.gather(*(s.__aenter__() for s in streams))
            assert [r.status_code for r in responses] == [200] * n
            holder.kill()  # one worker: the server process is the worker
            killed = time.monotonic()
            for stream in streams:
                with contextlib.suppress(httpx.TransportError):
                    await stream.__aexit__(None, None, None)
            return killed

    return asyncio.run(hold_and_kill())


def first_answer_after(url: str, killed: float, limit: float) -> tuple[float, list[object]]:
    """Ask with key ``k`` until answered 200; the seconds since the kill, and the refusals."""
    refusals: list[object] = []
    while time.monotonic() - killed < limit:
        try:
            status, text = answer(url, "quick", "k")
        except httpx.TransportError:  # the workers are being restarted
            time.sleep(0.05)
            continue
        if status == 200:
            return time.monotonic() - killed, refusals
        refusals.append((status, text))
        time.sleep(0.05)
    raise AssertionError(f"no answer within {limit} s: {refusals[-3:]}")


def test_slots_of_a_killed_worker_come_back_within_the_lease(
    lease_servers: tuple[subprocess.Popen[bytes], str, str],
) -> None:
    holder, holder_url, url = lease_servers
    killed = kill_holding(holder, holder_url, 3)
    seconds, refusals = first_answer_after(url, killed, 10)
    # 3 of 3 slots leaked: refused until the leases (2 s) ran out, then served.
    assert set(refusals) == {(429, "concurrency_limit_exceeded")}
    assert 1.5 < seconds < 2 + 1.5
    statuses, extra = asyncio.run(hold_streams(url, "k", 3))
    assert (statuses, extra.status_code) == ([200, 200, 200], 429)


def test_a_key_in_use_expires_its_leaked_slots(
    lease_servers: tuple[subprocess.Popen[bytes], str, str],
) -> None:
    holder, holder_url, url = lease_servers
    killed = kill_holding(holder, holder_url, 2)
    # One slot of 3 is free: the key keeps working, and stays in use past the lease (2 s).
    while time.monotonic() - killed < 3.0:
        assert answer(url, "quick", "k") == (200, "alpha bravo")
    # Its leaked slots expired all the same.
    statuses, extra = asyncio.run(hold_streams(url, "k", 3))
    assert (statuses, extra.status_code) == ([200, 200, 200], 429)


def test_a_request_cancelled_at_the_end_of_the_drain_releases_its_slot(
    configs: Path, redis_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    process, url = start_server(
        configs, "--drain-timeout", "1", "--redis-url", redis_url, "--max-concurrency-per-key", "5"
    )
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            # A whole (not streamed) 12-second answer, still running when the drain ends.
            pending = pool.submit(answer, url, "long")
            deadline = time.monotonic() + 10
            while not store.keys("langchain-guardrails:*") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(store.keys("langchain-guardrails:*")) == 1  # the slot it holds
            process.send_signal(signal.SIGTERM)
            assert pending.result(timeout=20) == (503, "server_shutting_down")
        assert process.wait(timeout=20) == -signal.SIGTERM
        # Ended by the server's shutdown, the request still gave its slot back.
        assert store.keys("langchain-guardrails:*") == []
    finally:
        if process.poll() is None:
            stop(process)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_ends_a_long_stream_with_an_error_and_refuses_new_connections(
    configs: Path, redis_url: str, workers: str
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    process, url = start_server(
        configs, "--workers", workers, "--drain-timeout", "1.5", "--redis-url", redis_url,
        "--max-concurrency-per-key", "5",
    )  # fmt: skip
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            body = {**ASK, "model": "long"}
            with http.stream("POST", "/v1/chat/completions", json=body) as response:
                lines = response.iter_lines()
                first = next(lines)
                process.send_signal(signal.SIGTERM)
                time.sleep(0.3)
                asked = time.monotonic()
                with pytest.raises(httpx.ConnectError):
                    httpx.get(f"{url}/health", timeout=3)
                refused_in = time.monotonic() - asked
                rest = [line for line in lines if line]
        assert first.startswith("data: {")
        assert refused_in < 0.5  # refused at once, not accepted and left hanging
        assert rest[-1] == "data: [DONE]"
        assert json.loads(rest[-2][len("data: ") :]) == {
            "error": {
                "message": "The server is shutting down; the generation was stopped. Retry the "
                "request",
                "type": "server_error",
                "param": None,
                "code": "server_shutting_down",
            }
        }
        assert all(line.startswith("data: {") and "error" not in line for line in rest[:-2])
        # One worker re-raises the signal once drained; the parent of two exits 0.
        assert process.wait(timeout=20) == (-signal.SIGTERM if workers == "1" else 0)
        # The cut stream gave its per-key slot back.
        assert redis.Redis.from_url(redis_url).keys("langchain-guardrails:*") == []
    finally:
        if process.poll() is None:
            stop(process)
