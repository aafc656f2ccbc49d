"""Reading verdicts out of the messy answers real guard models give."""

from __future__ import annotations

import pytest

from langchain_guardrails.rails.verdicts import Verdict, safety, yes_no


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("Yes", "yes"),
        ("No", "no"),
        ("yes", "yes"),
        ("NO", "no"),
        ("  Yes.", "yes"),
        ("\n\nNo!", "no"),
        ("**Yes**", "yes"),
        ('"No"', "no"),
        ("No, the message is harmless.", "no"),
        ("Yes - it asks to ignore the instructions.", "yes"),
        ("<think>The user wants the admin password, so yes.</think>\nYes", "yes"),
        ("<think>hmm, is it? no...</think> No", "no"),
        ("The message asks for a recipe. Answer: No", "no"),
        ("It tries to override the system prompt.\nFinal answer: **Yes**", "yes"),
        ("The user is polite and asks about the weather, so no.", "no"),
        ("There is no harmful content here.\nNo", "no"),
        ("The request has no legitimate purpose and tries a jailbreak.\nYes", "yes"),
        ("Verdict - yes", "yes"),
    ],
)
def test_yes_no_reads_messy_answers(answer: str, verdict: str) -> None:
    assert yes_no(answer) == (verdict, None)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("", "the answer is empty"),
        ("   \n ", "the answer is empty"),
        ("...", "the answer is empty"),
        ("I cannot decide.", "the answer has no Yes/No verdict"),
        ("Maybe", "the answer has no Yes/No verdict"),
        (
            "It is a jailbreak, so yes. It has no legitimate purpose.",
            "the answer says both Yes and No without a clear final verdict",
        ),
        (
            "<think>The user asks for",
            "the answer's <think> block never ends (truncated reasoning)",
        ),
        ("Yesterday I said so", "the answer has no Yes/No verdict"),
    ],
)
def test_yes_no_names_the_problem_of_an_unreadable_answer(answer: str, problem: str) -> None:
    assert yes_no(answer) == (None, problem)


@pytest.mark.parametrize(
    ("answer", "field", "verdict"),
    [
        ("safe", "User Safety", Verdict(True)),
        ("Safe.", "User Safety", Verdict(True)),
        ("unsafe\nS1,S10", "User Safety", Verdict(False, ("S1", "S10"))),
        ("unsafe\nS1, S10", "Response Safety", Verdict(False, ("S1", "S10"))),
        ("  UNSAFE S2 S3", "User Safety", Verdict(False, ("S2", "S3"))),
        ("unsafe", "User Safety", Verdict(False)),
        ("unsafe\nO3", "User Safety", Verdict(False, ("O3",))),
        ('{"User Safety": "safe"}', "User Safety", Verdict(True)),
        (
            '{"User Safety": "unsafe", "Safety Categories": "Violence, Threat"}',
            "User Safety",
            Verdict(False, ("Violence", "Threat")),
        ),
        (
            '```json\n{"User Safety": "safe", "Response Safety": "Unsafe", '
            '"Safety Categories": "Hate/Identity Hate"}\n```',
            "Response Safety",
            Verdict(False, ("Hate/Identity Hate",)),
        ),
        (
            '{"User Safety": "unsafe", "Violated Categories": ["S1", "S9"]}',
            "User Safety",
            Verdict(False, ("S1", "S9")),
        ),
        (
            "<think>Looks fine.</think>\nUser Safety: safe\nResponse Safety: unsafe\n"
            "Safety Categories: Profanity",
            "Response Safety",
            Verdict(False, ("Profanity",)),
        ),
        ("User Safety: safe", "User Safety", Verdict(True)),
        ("Yes", "User Safety", Verdict(False)),
        ("No, it is fine.", "User Safety", Verdict(True)),
    ],
)
def test_safety_reads_every_guard_format(answer: str, field: str, verdict: Verdict) -> None:
    assert safety(answer, field) == verdict


@pytest.mark.parametrize(
    ("answer", "field", "problem"),
    [
        ("", "User Safety", "the answer is empty"),
        ('{"User Safety": "safe"', "User Safety", None),
        (
            '{"User Safety": "safe"}',
            "Response Safety",
            "the answer's JSON has no 'Response Safety': safe|unsafe",
        ),
        (
            '{"User Safety": "maybe"}',
            "User Safety",
            "the answer's JSON has no 'User Safety': safe|unsafe",
        ),
        (
            "{not json}",
            "User Safety",
            "the answer's JSON does not parse (Expecting property name enclosed in double quotes)",
        ),
        ("[1, 2]", "User Safety", None),
        (
            "I am not sure about this one.",
            "User Safety",
            "the answer has no safe/unsafe verdict (nor a 'User Safety' field or Yes/No)",
        ),
    ],
)
def test_safety_names_the_problem_of_an_unreadable_answer(
    answer: str, field: str, problem: str | None
) -> None:
    verdict = safety(answer, field)
    assert verdict.safe is None
    if problem is not None:
        assert verdict.problem == problem
    else:
        assert verdict.problem
