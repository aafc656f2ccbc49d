"""``eval --spans``: span-level precision, recall and F1 per entity, with exact figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_guardrails.cli.main import main
from langchain_guardrails.eval import DatasetError
from langchain_guardrails.eval.spans import (
    SpanCounts,
    builtin_finder,
    load_spans,
    parse_span_lines,
    presidio_finder,
    score_spans,
    span_errors,
)

LINES = [
    '{"text": "mail a.b@example.com or a.b@example.com", "spans": '
    '[["EMAIL_ADDRESS", "a.b@example.com"], ["EMAIL_ADDRESS", "a.b@example.com"]]}',
    '{"text": "call 030 12345678", "spans": [["PHONE_NUMBER", "030 12345678"]], "locale": "de"}',
    '{"text": "see http://x.example.org today", "spans": [["EMAIL_ADDRESS", "x.example.org"]]}',
    "# a comment",
    '{"text": "order 123456789", "spans": []}',
]


def test_values_become_offsets_in_order() -> None:
    examples = parse_span_lines(LINES)
    assert examples[0].spans == ((5, 20, "EMAIL_ADDRESS"), (24, 39, "EMAIL_ADDRESS"))
    assert (examples[1].locale, examples[1].line) == ("de", 2)
    assert examples[3].spans == () and examples[3].line == 5


def test_exact_counts_per_entity() -> None:
    examples = parse_span_lines(LINES)
    counts = score_spans(examples, builtin_finder(["EMAIL_ADDRESS", "PHONE_NUMBER", "URL"]))
    assert counts == {
        "EMAIL_ADDRESS": SpanCounts(tp=2, fp=0, fn=1),
        "PHONE_NUMBER": SpanCounts(tp=1, fp=0, fn=0),
        "URL": SpanCounts(tp=0, fp=1, fn=0),
    }
    email = counts["EMAIL_ADDRESS"]
    assert (email.precision, email.recall, email.f1) == (1.0, 2 / 3, 0.8)
    assert (counts["URL"].precision, counts["URL"].recall, counts["URL"].f1) == (0.0, None, None)
    assert SpanCounts(0, 1, 1).f1 == 0.0
    assert span_errors(examples, builtin_finder(["EMAIL_ADDRESS", "URL"])) == [
        {
            "line": 2,
            "missed": [["PHONE_NUMBER", "030 12345678"]],
            "spurious": [],
        },
        {
            "line": 3,
            "missed": [["EMAIL_ADDRESS", "x.example.org"]],
            "spurious": [["URL", "http://x.example.org"]],
        },
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1, 2]", "<spans>:1: expected a JSON object"),
        ('{"text": "x", "label": "block"}', "<spans>:1: unknown key 'label'; known keys: text, "
         "spans, locale"),
        ('{"spans": []}', "<spans>:1: 'text' must be a string"),
        ('{"text": "x", "spans": "EMAIL"}', "<spans>:1: 'spans' must be a list of [ENTITY, "
         "value] pairs"),
        ('{"text": "x", "spans": [["URL"]]}', "<spans>:1: 'spans' must be a list of [ENTITY, "
         "value] pairs"),
        ('{"text": "a b", "spans": [["URL", "c"]]}', "<spans>:1: URL value 'c' is not in the "
         "text (after the previous)"),
        ('{"text": "a b", "spans": [["URL", "b"], ["URL", "a"]]}', "<spans>:1: URL value 'a' "
         "is not in the text (after the previous)"),
        ('{"text": "x", "locale": 3}', "<spans>:1: 'locale' must be a string"),
        ("{not json", "<spans>:1: not valid JSON (Expecting property name enclosed in double "
         "quotes)"),
    ],
)  # fmt: skip
def test_bad_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        parse_span_lines([line])
    assert str(caught.value) == message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        load_spans(tmp_path / "none.jsonl")
    assert str(caught.value) == f"{tmp_path / 'none.jsonl'}: cannot read (FileNotFoundError)"


def write(tmp_path: Path) -> Path:
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_cli_table_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(write(tmp_path))
    assert main(["eval", "--spans", path, "--markdown", "--show-errors", "1"]) == 0
    assert capsys.readouterr().out == (
        "| entity | expected | tp | fp | fn | precision | recall | f1 |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| EMAIL_ADDRESS | 3 | 2 | 0 | 1 | 1.000 | 0.667 | 0.800 |\n"
        "| PHONE_NUMBER | 1 | 1 | 0 | 0 | 1.000 | 1.000 | 1.000 |\n"
        "| (all) | 4 | 3 | 0 | 1 | 1.000 | 0.750 | 0.857 |\n"
        "\nline 3: missed [['EMAIL_ADDRESS', 'x.example.org']], spurious []\n"
    )
    assert main(["eval", "--spans", path, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["entities"]["EMAIL_ADDRESS"] == {
        "tp": 2, "fp": 0, "fn": 1, "precision": 1.0, "recall": 2 / 3, "f1": 0.8,
    }  # fmt: skip
    assert figures["errors"] == []


def test_cli_refuses_spans_with_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--spans", str(write(tmp_path)), "--config", "x"]) != 0
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("--spans judges the built-in recognizers: drop --config/--dataset/--shipped")
    )


def test_cli_names_the_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x"}\n{"text": 1}\n', encoding="utf-8")
    assert main(["eval", "--spans", str(path)]) != 0
    assert capsys.readouterr().err.strip().endswith(f"{path}:2: 'text' must be a string")


def test_presidio_spans_side_by_side() -> None:
    pytest.importorskip("presidio_analyzer")
    examples = parse_span_lines(LINES)
    counts = score_spans(examples, presidio_finder(["EMAIL_ADDRESS", "URL"]))
    # Presidio's URL recognizer also finds the domain inside each e-mail address.
    assert counts["EMAIL_ADDRESS"].tp == 2
    assert counts["PHONE_NUMBER"] == SpanCounts(tp=0, fp=0, fn=1)
