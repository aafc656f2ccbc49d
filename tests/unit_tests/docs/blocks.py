"""The code blocks of the README and the documentation site, with the marker before each.

Every ```python block runs in the tests, and so is checked: a block's trailing ``# ...`` lines
are the exact output it must print. A block says how it runs with an HTML comment on the line
before its fence:

- none, or ``<!-- runs-in-tests -->``: executed in-process (``tests/unit_tests/docs``);
- ``<!-- runs-against-server -->``: executed against a live server serving
  ``examples/configs`` (``tests/unit_tests/server/test_docs_server.py``);
- ``<!-- not-run: REASON -->``: not executed, and the reason must say why (a model download, a
  hosted API, a server that never returns).

```yaml blocks are configs and load with ``RailsConfig.from_content`` unless marked
``not-run``; ```json blocks are JSON lines.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(
    r"^\s*<!-- (?P<kind>runs-in-tests|runs-against-server|not-run)(?::(?P<why>.*?))? -->\s*$"
)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    marker: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, start = opening["indent"], i
        i += 1
        while not (lines[i].startswith(indent + "```") and lines[i].strip() == "```"):
            i += 1
        code = textwrap.dedent("\n".join(lines[start + 1 : i])) + "\n"
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        marked = MARKER.match(previous)
        kind = marked["kind"] if marked else "runs-in-tests"
        reason = (marked["why"] or "").strip() if marked else ""
        found.append(Block(path, start + 1, opening["lang"], code, kind, reason))
        i += 1
    return found


def all_blocks(lang: str | None = None, marker: str | None = None) -> list[Block]:
    return [
        block
        for page in pages()
        for block in blocks_of(page)
        if (lang is None or block.lang == lang) and (marker is None or block.marker == marker)
    ]


def expected_output(code: str) -> str:
    """The trailing ``# ...`` lines of a block (``#`` alone is an empty line)."""
    lines = code.rstrip("\n").split("\n")
    tail: list[str] = []
    while lines and (lines[-1].startswith("# ") or lines[-1] == "#"):
        tail.insert(0, lines.pop()[2:])
    return "\n".join(tail)


def same_output(actual: str, expected: str) -> bool:
    """Exact, except trailing spaces of a line (editors strip them from Markdown)."""
    return [line.rstrip() for line in actual.rstrip("\n").split("\n")] == [
        line.rstrip() for line in expected.split("\n")
    ]
