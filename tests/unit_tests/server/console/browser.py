"""A real ``langchain-guardrails server`` and a headless Debian Chromium driven by Selenium:
what the console's browser tests and ``scripts/screenshots.py`` use.

Chromium, chromedriver and selenium are looked for once; :func:`missing` says what is absent
(tests skip with that reason; ``make chromium`` installs them where apt-get can).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[4]
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if chromium() is None:
        return "chromium is not installed (make chromium, or apt-get install chromium)"
    if shutil.which("chromedriver") is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served(config: Path, *extra: str) -> Iterator[str]:
    """``langchain-guardrails server --config config`` on a free 127.0.0.1 port (a real
    process); yields its base URL once ``/health`` answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "langchain_guardrails", "server", "--config", str(config),
               "--port", str(port), "--log-level", "warning", *extra]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"the server did not start:\n{error}") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def driver(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium under chromedriver, with a fresh profile and the browser log on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium() or "chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(shutil.which("chromedriver") or "chromedriver")
    browser = webdriver.Chrome(options=options, service=service)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url: str, budget_ms: int = 10000) -> str:
    """``chromium --headless --dump-dom --virtual-time-budget=...`` of ``url``."""
    profile = tempfile.mkdtemp(prefix="console-dump-")
    try:
        command = [chromium() or "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={budget_ms}", "--dump-dom", url]  # fmt: skip
        done = subprocess.run(command, capture_output=True, timeout=120, check=True)
        return done.stdout.decode()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
