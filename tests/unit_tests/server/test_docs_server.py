"""Doc examples marked ``<!-- runs-against-server -->`` run against a live server.

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

from ..docs.blocks import ROOT, Block, all_blocks, expected_output
from .conftest import live_server


def marked_blocks() -> list[Block]:
    return all_blocks(marker="runs-against-server")


def matches(expected: str, actual: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server(create_app(ROOT / "examples" / "configs", langserve=True)) as url:
        yield url


def test_docs_have_server_examples() -> None:
    languages = [block.lang for block in marked_blocks()]
    assert languages.count("bash") >= 4
    assert languages.count("python") >= 2


@pytest.mark.parametrize("block", marked_blocks(), ids=lambda b: b.id)
def test_docs_server_example(server: str, block: Block) -> None:
    code = block.code.replace("http://127.0.0.1:8000", server)
    if block.lang == "python":
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, block.id, "exec"), {"__name__": "__docs__"})
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
    # SSE events are separated by blank lines; the pages show one event per line.
    actual = "\n".join(line for line in actual.rstrip("\n").split("\n") if line)
    assert matches(expected_output(block.code), actual), actual
