"""Chaos run: 2 workers and Redis under 200 concurrent streams while a worker is SIGKILLed,
Redis restarts and a config reload happens (127.0.0.1 only, bounded by ``--seconds``).

Reports streams completed, streams cut (each must end with an error event and ``[DONE]``),
streams dropped by the killed worker, answers by status (5xx by error code), slots leaked after
the run (must be 0) and whether ``/metrics`` was monotonic across scrapes.

    python benchmarks/chaos.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

CONFIG = """\
models:
  - type: main
    engine: scripted
    parameters: {delay: 0.02, default_reply: "%s"}
"""
TOTAL = re.compile(r'^guardrails_requests_total\{route="([^"]*)",status="(\d+)"\} (\S+)$', re.M)
LEASE = 3.0
KEY = {"Authorization": "Bearer key-0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port).ping():
                return process
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def workers_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if parent == str(pid) and b"spawn_main" in command:
                found.append(int(entry.name))
    return found


async def client(url: str, until: float, stats: collections.Counter[str], n: int) -> None:
    body = {"model": "chaos", "messages": [{"role": "user", "content": "go"}], "stream": True}
    headers = {"Authorization": f"Bearer key-{n % 20}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.monotonic() < until:
            try:
                async with http.stream(
                    "POST", "/v1/chat/completions", json=body, headers=headers
                ) as response:
                    if response.status_code != 200:
                        text = (await response.aread()).decode()
                        code = re.search(r'"code": ?"([^"]+)"', text)
                        stats[f"status {response.status_code} {code and code.group(1)}"] += 1
                        await asyncio.sleep(0.2)
                        continue
                    lines = [line async for line in response.aiter_lines() if line]
            except httpx.TransportError:
                stats["dropped (connection lost: killed worker)"] += 1
                await asyncio.sleep(0.2)
                continue
            errors = [line for line in lines if line.startswith('data: {"error"')]
            done = bool(lines) and lines[-1] == "data: [DONE]"
            if errors and done:
                stats["cut with error event + [DONE]"] += 1
            elif done:
                stats["completed"] += 1
            else:
                stats["dropped (connection lost: killed worker)"] += 1


async def scraper(url: str, until: float, totals: list[float]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while time.monotonic() < until:
            try:
                response = await http.get("/metrics", headers=KEY)
                response.raise_for_status()  # a refused scrape is not a zero
                text = response.text
                totals.append(sum(float(m.group(3)) for m in TOTAL.finditer(text)))
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)


async def chaos(args: argparse.Namespace, root: Path, url: str, server: Any, redis_port: int,
                redis_box: list[subprocess.Popen[bytes]]) -> dict[str, Any]:  # fmt: skip
    stats: collections.Counter[str] = collections.Counter()
    totals: list[float] = []
    start = time.monotonic()
    until = start + args.seconds
    tasks = [asyncio.ensure_future(client(url, until, stats, n)) for n in range(args.streams)]
    tasks.append(asyncio.ensure_future(scraper(url, until, totals)))
    events = []
    await asyncio.sleep(args.seconds * 0.25)
    victim = workers_of(server.pid)[0]
    os.kill(victim, signal.SIGKILL)
    events.append(f"{time.monotonic() - start:5.1f}s SIGKILL worker {victim}")
    await asyncio.sleep(args.seconds * 0.25)
    redis_box[0].kill()
    redis_box[0].wait()
    await asyncio.sleep(1)
    redis_box[0] = start_redis(redis_port)
    events.append(f"{time.monotonic() - start:5.1f}s Redis killed, restarted 1 s later")
    await asyncio.sleep(args.seconds * 0.25)
    (root / "chaos" / "config.yml").write_text(CONFIG % "reloaded words are streamed now ok")
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        reload = await http.post("/v1/rails/configs/reload", json={}, headers=KEY)
        answer = reload.json()
    events.append(f"{time.monotonic() - start:5.1f}s reload: {answer}")
    await asyncio.gather(*tasks)
    return {"stats": stats, "totals": totals, "events": events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--streams", type=int, default=200)
    args = parser.parse_args()
    if not 1 <= args.seconds <= 600:
        sys.exit("--seconds must be between 1 and 600")
    if not 1 <= args.streams <= 1000:
        sys.exit("--streams must be between 1 and 1000")
    root = Path(tempfile.mkdtemp(prefix="chaos-"))
    (root / "chaos").mkdir()
    (root / "chaos" / "config.yml").write_text(CONFIG % " ".join(["word"] * 20))
    redis_port = free_port()
    redis_box = [start_redis(redis_port)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "langchain_guardrails", "server", "--config", str(root),
         "--port", str(port), "--workers", "2", "--redis-url",
         f"redis://127.0.0.1:{redis_port}/0", "--max-concurrency-per-key", "50",
         "--redis-lease-seconds", str(LEASE), "--max-concurrency", "512",
         "--log-level", "critical", "--drain-timeout", "3",
         # Tokens are keys only when the server checks them (else one key: the address).
         *[arg for n in range(20) for arg in ("--api-key", f"key-{n}")]],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("the server did not start")
            time.sleep(0.1)
        result = asyncio.run(chaos(args, root, url, server, redis_port, redis_box))
        time.sleep(LEASE + 1)  # leases of the killed worker's streams run out
        store = redis.Redis(port=redis_port)
        leaked = sum(
            int(store.zcard(key)) for key in store.scan_iter("langchain-guardrails:slots:*")
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        redis_box[0].kill()
        shutil.rmtree(root, ignore_errors=True)
    totals = result["totals"]
    monotonic = all(b >= a for a, b in itertools.pairwise(totals))
    print(f"chaos run: {args.streams} concurrent streams for {args.seconds:g} s, 2 workers, Redis")
    for line in result["events"]:
        print("  " + line)
    for name, count in sorted(result["stats"].items()):
        print(f"  {name:45} {count}")
    five = sum(c for k, c in result["stats"].items() if k.startswith("status 5"))
    print(f"  {'5xx answers':45} {five}")
    print(f"  {'slots leaked after the run':45} {leaked}")
    print(f"  {'/metrics monotonic across scrapes':45} {monotonic} ({len(totals)} scrapes)")
    if leaked or not monotonic:
        sys.exit(1)


if __name__ == "__main__":
    main()
