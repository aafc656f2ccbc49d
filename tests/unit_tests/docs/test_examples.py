"""Every example of the README and the documentation site runs, and prints what the page says.

See ``blocks.py`` for the conventions. Blocks run with the repository as the working directory,
so paths such as ``examples/configs/streaming`` are the ones a reader of a clone would use.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from langchain_guardrails import RailsConfig

from .blocks import ROOT, Block, all_blocks, expected_output, same_output

IN_PROCESS = all_blocks("python", "runs-in-tests")
CONFIGS = [b for b in all_blocks("yaml") if b.marker != "not-run"]
JSON_LINES = [b for b in all_blocks("json") if b.marker != "not-run"]


def test_pages_have_examples() -> None:
    assert len(IN_PROCESS) >= 12
    assert len(CONFIGS) >= 12


def test_every_skipped_block_says_why() -> None:
    skipped = all_blocks(marker="not-run")
    assert skipped
    for block in skipped:
        assert len(block.reason) >= 10, block.id


@pytest.mark.parametrize("block", IN_PROCESS, ids=lambda b: b.id)
def test_example_prints_what_the_page_says(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.code, block.id, "exec"), {"__name__": "__docs__"})
    assert same_output(out.getvalue(), expected_output(block.code)), out.getvalue()


@pytest.mark.parametrize("block", CONFIGS, ids=lambda b: b.id)
def test_config_example_loads(block: Block) -> None:
    config = RailsConfig.from_content(yaml_content=block.code)
    assert isinstance(config, RailsConfig)


@pytest.mark.parametrize("block", JSON_LINES, ids=lambda b: b.id)
def test_json_lines_parse(block: Block) -> None:
    for line in block.code.strip().splitlines():
        assert isinstance(json.loads(line), dict), line
