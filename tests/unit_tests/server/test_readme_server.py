"""README examples marked ``<!-- runs-against-server -->`` run against a live server.

The server serves ``examples/configs`` (with LangServe routes) on a free port of 127.0.0.1;
``127.0.0.1:8000`` in the examples is replaced by it. A block's trailing ``# ...`` lines are
the output it must print, where ``...`` stands for any text.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_guardrails.server import create_app

from .conftest import live_server

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
MARKED = re.compile(r"<!-- runs-against-server -->\s*```(bash|python)\n(.*?)```", re.DOTALL)


def marked_blocks() -> list[tuple[str, str]]:
    return MARKED.findall(README.read_text(encoding="utf-8"))


def expected_output(block: str) -> str:
    lines = block.rstrip("\n").split("\n")
    tail: list[str] = []
    while lines and lines[-1].startswith("# "):
        tail.insert(0, lines.pop()[2:])
    return "\n".join(tail)


def matches(expected: str, actual: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server(create_app(ROOT / "examples" / "configs", langserve=True)) as url:
        yield url


def test_readme_has_server_examples() -> None:
    languages = [language for language, _ in marked_blocks()]
    assert languages.count("bash") >= 4
    assert languages.count("python") >= 2


@pytest.mark.parametrize(
    ("language", "block"), marked_blocks(), ids=lambda v: v.strip().split("\n", 1)[0][:50]
)
def test_readme_server_example(server: str, language: str, block: str) -> None:
    code = block.replace("http://127.0.0.1:8000", server)
    if language == "python":
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
        actual = out.getvalue()
    else:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        result = subprocess.run(
            ["bash", "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
        )
        assert result.stderr == ""
        actual = result.stdout
    # SSE events are separated by blank lines; the README shows one event per line.
    actual = "\n".join(line for line in actual.rstrip("\n").split("\n") if line)
    assert matches(expected_output(block), actual), actual
