"""Issue 25: ``langchain-guardrails console --config DIR`` serves the console on 127.0.0.1 and
prints its URL; ``server --console-debug`` reaches the app; the static files ship in the wheel."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_guardrails.cli.main import main

from .browser import REPO
from .conftest import CONSOLE_CONFIGS


def test_console_prints_its_url_and_serves_the_page() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "langchain_guardrails", "console", "--config",
               str(CONSOLE_CONFIGS / "held"), "--no-browser"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.fullmatch(
            r"Console of held at (http://127\.0\.0\.1:\d+/ui\?config=held)\n", line
        )
        assert found, line
        url = found.group(1)
        with urllib.request.urlopen(url, timeout=10) as page:
            assert '<body data-debug="0">' in page.read().decode()
        api = url.split("/ui")[0] + "/ui/api/configs"
        with urllib.request.urlopen(api, timeout=10) as listed:
            assert [c["id"] for c in json.load(listed)["configs"]] == ["held"]
    finally:
        process.terminate()
        process.wait(10)


def test_console_refuses_a_missing_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--config", "/no/such/folder", "--no-browser"]) == 2
    assert capsys.readouterr().err == "error: --config /no/such/folder: no such folder\n"


def test_console_refuses_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["console", "--config", str(CONSOLE_CONFIGS), "--port", "70000", "--no-browser"])
    assert code == 2
    assert capsys.readouterr().err == "error: --port must be within 0..65535 (got 70000)\n"


def test_server_passes_console_debug_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.setdefault("app", app))
    argv = ["server", "--config", str(CONSOLE_CONFIGS), "--console-debug", "--log-level", "error"]
    assert main(argv) == 0
    routes = {getattr(r, "path", None) for r in seen["app"].routes}  # type: ignore[attr-defined]
    assert {"/ui", "/ui/api/run"} <= routes
    transport = httpx.ASGITransport(app=seen["app"])  # type: ignore[arg-type]

    async def configs() -> Any:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return (await http.get("/ui/api/configs")).json()

    assert asyncio.run(configs())["debug"] is True


def test_the_wheel_ships_the_static_files(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("console.html", "console.js", "console.css"):
        assert f"langchain_guardrails/server/console/static/{name}" in names
