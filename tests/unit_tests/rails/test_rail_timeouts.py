"""Inline regex rails honour their own timeout (a flow's ``timeout:``) and fail closed.

``(a+)+$`` is the textbook catastrophic pattern: Python's ``re`` backtracks 2**31 times on
:data:`ATTACK`, the ``regex`` package answers it at once. ``(a|a)+$`` backtracks in both.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.rails.recognizers import Scanner, user_recognizers
from langchain_guardrails.testing import FakeStreamingChatModel

ATTACK = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"
BACKTRACKS_EVERYWHERE = "(a|a)+$"
BACKTRACKS_IN_RE = "(a+)+$"
SENSITIVE_FLOWS = ("detect sensitive data on input", "mask sensitive data on input")


def guard(flow: str, detection: dict[str, Any]) -> Guardrails:
    config = RailsConfig.from_content(
        config={
            "rails": {
                "timeout": 60,  # the global timeout would let the pattern run for a minute
                "input": {"flows": [{"flow": flow, "timeout": 0.2}]},
                "config": detection,
            }
        }
    )
    return Guardrails(llm=FakeStreamingChatModel(text="fine answer"), config=config)


def regex_rail(pattern: str) -> Guardrails:
    return guard("regex check input", {"regex_detection": {"input": {"patterns": [pattern]}}})


def recognizer_rail(flow: str, pattern: str) -> Guardrails:
    detection = {
        "sensitive_data_detection": {
            "recognizers": [{"supported_entity": "AAA", "patterns": [{"regex": pattern}]}],
            "input": {"entities": ["AAA", "EMAIL_ADDRESS"]},
        }
    }
    return guard(flow, detection)


def timed_out(flow: str) -> dict[str, Any]:
    return {
        "blocked": True,
        "stage": "input",
        "rail": flow,
        "reason": f"rail {flow!r} timed out after 0.2s",
        "type": "internal_error",
    }


async def test_regex_rail_stops_at_the_flow_timeout_and_blocks() -> None:
    started = time.monotonic()
    message = await regex_rail(BACKTRACKS_EVERYWHERE).ainvoke(ATTACK)
    elapsed = time.monotonic() - started
    assert message.response_metadata["guardrails"] == timed_out("regex check input")
    assert message.content == "I'm sorry, I can't respond to that."
    assert elapsed < 1.5


async def test_regex_rail_answers_the_textbook_pattern_at_once() -> None:
    started = time.monotonic()
    message = await regex_rail(BACKTRACKS_IN_RE).ainvoke(ATTACK)
    assert message.content == "fine answer"
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("flow", SENSITIVE_FLOWS)
async def test_user_recognizer_stops_at_the_flow_timeout_and_blocks(flow: str) -> None:
    started = time.monotonic()
    message = await recognizer_rail(flow, BACKTRACKS_EVERYWHERE).ainvoke(ATTACK)
    elapsed = time.monotonic() - started
    assert message.response_metadata["guardrails"] == timed_out(flow)
    assert elapsed < 1.5


@pytest.mark.parametrize("flow", SENSITIVE_FLOWS)
async def test_user_recognizer_no_longer_hangs_on_the_textbook_pattern(flow: str) -> None:
    # Python's re ran this for minutes on the event loop; the regex package answers at once.
    started = time.monotonic()
    message = await recognizer_rail(flow, BACKTRACKS_IN_RE).ainvoke(ATTACK)
    assert message.content == "fine answer"
    assert time.monotonic() - started < 1.5


async def test_sane_patterns_still_pass_and_block_under_the_flow_timeout() -> None:
    guarded = regex_rail("secret")
    assert (await guarded.ainvoke("hello")).content == "fine answer"
    blocked = await guarded.ainvoke("the secret is out")
    assert blocked.response_metadata["guardrails"]["reason"] == "matched pattern 'secret'"


def test_scanner_timeout_applies_to_user_patterns() -> None:
    scanner = Scanner.for_entities(
        ["AAA", "EMAIL_ADDRESS"], user_recognizers("AAA", [BACKTRACKS_EVERYWHERE])
    )
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^regex timed out$"):
        scanner.find(ATTACK, timeout=0.1)
    assert time.monotonic() - started < 1.0
    found = Scanner.for_entities(["AAA"], user_recognizers("AAA", [r"EMP-\d{3}"])).find("EMP-123")
    assert [(f.start, f.end, f.entity) for f in found] == [(0, 7, "AAA")]


def test_scanner_with_no_time_left_refuses_user_patterns() -> None:
    scanner = Scanner.for_entities(["AAA"], user_recognizers("AAA", ["a"]))
    with pytest.raises(TimeoutError, match=r"^sensitive-data patterns ran out of time$"):
        scanner.find("a", timeout=0)
