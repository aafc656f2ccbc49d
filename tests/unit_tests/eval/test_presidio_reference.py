"""``--reference presidio``: Presidio's recognizers next to the sensitive-data rails."""

from __future__ import annotations

import json
import sys

import pytest

from langchain_guardrails import RailsConfig
from langchain_guardrails.errors import MissingExtraError
from langchain_guardrails.eval import parse_lines
from langchain_guardrails.eval.presidio_ref import REFERENCE, presidio_reports, sensitive_entities

CONFIG = {
    "rails": {
        "input": {"flows": ["detect sensitive data on input"]},
        "config": {
            "sensitive_data_detection": {"input": {"entities": ["EMAIL_ADDRESS", "API_KEY"]}}
        },
    }
}
DATA = [
    {"input": "mail me at maria@example.com", "label": "block", "category": "EMAIL_ADDRESS"},
    {"input": "key AKIAIOSFODNN7EXAMPLE", "label": "block", "category": "API_KEY"},
    {"input": "no personal data here", "label": "allow"},
    {"input": "q", "output": "a@example.com", "label": "block", "stage": "output"},
]


def test_entities_come_from_the_stage_rail() -> None:
    config = RailsConfig.from_content(config=CONFIG)
    assert sensitive_entities(config, "input") == ["EMAIL_ADDRESS", "API_KEY"]
    assert sensitive_entities(config, "output") is None


def test_presidio_side_by_side() -> None:
    pytest.importorskip("presidio_analyzer")
    config = RailsConfig.from_content(config=CONFIG)
    (report,) = presidio_reports(config, parse_lines(json.dumps(r) for r in DATA))
    figures = report.as_dict(show_errors=5)
    assert (figures["stage"], figures["rail"]) == ("input", REFERENCE)
    assert (figures["tp"], figures["fp"], figures["tn"], figures["fn"]) == (1, 0, 1, 1)
    # Presidio has no recognizer for API keys: a miss
    assert [e["line"] for e in figures["errors"]] == [2]
    assert figures["categories"]["API_KEY"] == {"n": 1, "recall": 0.0, "fpr": None}


def test_missing_presidio_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)
    monkeypatch.setitem(sys.modules, "presidio_analyzer.predefined_recognizers", None)
    config = RailsConfig.from_content(config=CONFIG)
    with pytest.raises(MissingExtraError) as caught:
        presidio_reports(config, parse_lines(json.dumps(r) for r in DATA))
    assert str(caught.value) == (
        "presidio_analyzer is not installed; install it with "
        "`pip install 'langchain-stream-guardrails[presidio]'`"
    )
