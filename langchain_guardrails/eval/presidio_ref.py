"""``--reference presidio``: the same examples judged by Presidio's predefined recognizers
(``presidio`` extra), reported next to the sensitive-data rails.

Only the recognizers run (no spaCy model, no context enhancement), for the entities the
config's ``detect`` / ``mask sensitive data`` rail of the stage looks for. Presidio has no
recognizer for ``API_KEY`` or ``PRIVATE_KEY``; examples of those count as misses.

Example:
    .. code-block:: python

        reports = presidio_reports(config, examples)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.engine.rail_engine import parse_flow
from langchain_guardrails.errors import require
from langchain_guardrails.eval.dataset import Example
from langchain_guardrails.eval.runner import Outcome, RailReport
from langchain_guardrails.eval.stages import stage_flows

REFERENCE = "presidio recognizers (reference)"
RECOGNIZERS = {
    "EMAIL_ADDRESS": "EmailRecognizer",
    "PHONE_NUMBER": "PhoneRecognizer",
    "CREDIT_CARD": "CreditCardRecognizer",
    "IBAN_CODE": "IbanRecognizer",
    "US_SSN": "UsSsnRecognizer",
    "IP_ADDRESS": "IpRecognizer",
    "URL": "UrlRecognizer",
}
"""Our entity -> Presidio's predefined recognizer (same entity names)."""

Detector = Callable[[str], bool]


def sensitive_entities(config: RailsConfig, stage: str) -> list[str] | None:
    """The entities the stage's sensitive-data rail looks for; ``None`` without such a rail."""
    for flow in stage_flows(config, stage) or []:
        name, _, _ = parse_flow(flow)
        if name.endswith(f"sensitive data on {stage}"):
            entities: list[str] = getattr(
                config.rails.config.sensitive_data_detection, stage
            ).entities
            return entities
    return None


def presidio_detector(entities: Sequence[str]) -> Detector:
    """A function telling whether Presidio finds any of ``entities`` in a text."""
    predefined = require("presidio_analyzer.predefined_recognizers", "presidio")
    recognizers: list[Any] = [
        getattr(predefined, RECOGNIZERS[e])() for e in entities if e in RECOGNIZERS
    ]

    def detect(text: str) -> bool:
        return any(r.analyze(text, r.supported_entities, None) for r in recognizers)

    return detect


def presidio_reports(config: RailsConfig, examples: Sequence[Example]) -> list[RailReport]:
    """One reference report per stage that has a sensitive-data rail.

    Example:
        .. code-block:: python

            [r.confusion.f1 for r in presidio_reports(config, examples)]
    """
    reports = []
    for stage in ("input", "output"):
        entities = sensitive_entities(config, stage)
        items = [e for e in examples if e.stage == stage]
        if entities is None or not items:
            continue
        detect = presidio_detector(entities)
        outcomes = []
        for example in items:
            started = time.perf_counter()
            found = detect(example.text)
            seconds = time.perf_counter() - started
            status = "blocked" if found else "passed"
            outcomes.append(
                Outcome(example, status, REFERENCE if found else None, False, seconds, 0)
            )
        reports.append(RailReport(stage, REFERENCE, tuple(outcomes)))
    return reports


__all__ = [
    "RECOGNIZERS",
    "REFERENCE",
    "presidio_detector",
    "presidio_reports",
    "sensitive_entities",
]
