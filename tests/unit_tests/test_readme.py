"""README examples marked ``<!-- runs-in-tests -->`` run, and print what the README says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MARKED = re.compile(r"<!-- runs-in-tests -->\s*```python\n(.*?)```", re.DOTALL)


def marked_blocks() -> list[str]:
    return MARKED.findall(README.read_text(encoding="utf-8"))


def expected_output(block: str) -> str:
    """The trailing ``# ...`` lines of a block are the output it must print."""
    lines = block.rstrip("\n").split("\n")
    tail: list[str] = []
    while lines and lines[-1].startswith("# "):
        tail.insert(0, lines.pop()[2:])
    return "\n".join(tail)


def test_readme_has_marked_examples() -> None:
    assert len(marked_blocks()) >= 2


@pytest.mark.parametrize("block", marked_blocks(), ids=lambda b: b.split("\n", 1)[0][:40])
def test_readme_example_runs_and_prints_what_it_says(block: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})
    assert out.getvalue().rstrip("\n") == expected_output(block)
