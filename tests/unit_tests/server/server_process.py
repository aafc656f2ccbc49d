"""The gateway as a real process (``python -m langchain_guardrails server``) on 127.0.0.1, for
tests whose subject is a process (workers, SIGTERM, Redis) or that talk to the server as real
clients do, over a socket to another process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(configs: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server on a free port and wait until ``/health`` answers (60 s at most)."""
    port = free_port()
    command = [sys.executable, "-m", "langchain_guardrails", "server", "--config", str(configs),
               "--port", str(port), "--log-level", "warning", *flags]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "LANGCHAIN_GUARDRAILS_API_KEY"}
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def served(configs: Path, *flags: str) -> Iterator[str]:
    """The URL of a server process serving ``configs``, stopped on exit."""
    process, url = start_server(configs, *flags)
    try:
        yield url
    finally:
        stop(process)
