"""The quality tables of the docs (eval page, rail pages) are what ``make bench``'s command
prints (latency aside)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from langchain_guardrails.cli.main import main
from langchain_guardrails.eval.cli import DATA

ROOT = Path(__file__).resolve().parents[3]
EVAL_PAGE = ROOT / "docs" / "eval.md"
RAIL_PAGES = [ROOT / "docs" / "rails" / "regex.md", ROOT / "docs" / "rails" / "sensitive-data.md"]
SPANS_ARG = "langchain_guardrails/eval/data/pii_spans.jsonl"
QUALITY_COLUMNS = 12  # dataset .. FPR; latency and tokens/check depend on the machine and races


def page_rows(start: str, end: str) -> list[list[str]]:
    text = EVAL_PAGE.read_text(encoding="utf-8")
    block = text[text.index(start) + len(start) : text.index(end, text.index(start))]
    return [cells(line) for line in block.strip().splitlines() if line.startswith("|")]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def printed_rows(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    assert main(["eval", *argv]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]
    return [cells(line) for line in table.splitlines()]


def test_shipped_table_matches_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    printed = printed_rows(capsys, "--shipped", "--markdown", "--concurrency", "1")
    published = page_rows("<!-- eval-table:start -->", "<!-- eval-table:end -->")
    assert [r[:QUALITY_COLUMNS] for r in published] == [r[:QUALITY_COLUMNS] for r in printed]
    assert "langchain-guardrails eval --shipped --markdown --concurrency 1" in EVAL_PAGE.read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "-m langchain_guardrails eval --shipped --markdown --concurrency 1" in makefile


def test_rail_pages_quote_the_shipped_table(capsys: pytest.CaptureFixture[str]) -> None:
    printed = printed_rows(capsys, "--shipped", "--markdown", "--concurrency", "1")
    shipped = [r[:QUALITY_COLUMNS] for r in printed[2:]]
    for page in RAIL_PAGES:
        text = page.read_text(encoding="utf-8")
        quoted = text[text.index("## Measured quality") :]
        rows = [cells(line) for line in quoted.splitlines() if line.startswith("|")][2:]
        assert rows, page
        for row in rows:
            assert row in shipped, (page.name, row)


def test_presidio_table_matches_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("presidio_analyzer")
    printed = printed_rows(
        capsys,
        "--config", str(DATA / "configs" / "pii"),
        "--dataset", str(DATA / "pii.jsonl"),
        "--reference", "presidio", "--markdown",
    )  # fmt: skip
    text = EVAL_PAGE.read_text(encoding="utf-8")
    anchor = text.index("--reference presidio`, quality columns):")
    published = page_rows("--reference presidio`, quality columns):", "\n\nPresidio finds")
    assert anchor > 0
    wanted = [r[:11] for r in printed if r[1] != "(all rails)"]
    assert [r[:11] for r in published] == wanted


def test_shipped_dataset_has_every_builtin_entity() -> None:
    from langchain_guardrails.eval import load_dataset
    from langchain_guardrails.rails.recognizers import BUILTIN_ENTITIES

    categories = {e.category for e in load_dataset(DATA / "pii.jsonl")}
    assert set(BUILTIN_ENTITIES) <= categories
    assert any(c and c.startswith("hard negative") for c in categories)
    assert re.search(r"^# Eval: measuring the rails", EVAL_PAGE.read_text(), re.MULTILINE)


def test_span_table_matches_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    spans = str(DATA / "pii_spans.jsonl")
    published = page_rows("<!-- span-table:start -->", "<!-- span-table:end -->")
    if importlib.util.find_spec("presidio_analyzer") is None:
        printed = printed_rows(capsys, "--spans", spans, "--markdown")
        assert [r[:8] for r in published] == printed
    else:
        assert published == printed_rows(
            capsys, "--spans", spans, "--reference", "presidio", "--markdown"
        )
    command = f"langchain-guardrails eval --spans {SPANS_ARG} --reference presidio --markdown"
    assert command in EVAL_PAGE.read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert f"-m langchain_guardrails eval --spans {SPANS_ARG} --reference presidio" in makefile


def test_span_targets_hold_on_the_shipped_set() -> None:
    from langchain_guardrails.eval.spans import builtin_finder, entities_of, load_spans, score_spans

    examples = load_spans(DATA / "pii_spans.jsonl")
    scores = score_spans(examples, builtin_finder(entities_of(examples)))
    assert set(scores) == {
        "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
        "IP_ADDRESS", "URL", "API_KEY", "PRIVATE_KEY",
    }  # fmt: skip
    for entity, counts in scores.items():
        assert (counts.f1 or 0) >= 0.98, entity
        assert (counts.precision or 0) >= 0.99, entity
    assert len({e.locale for e in examples}) >= 9
    assert sum(1 for e in examples if not e.spans) >= 30
