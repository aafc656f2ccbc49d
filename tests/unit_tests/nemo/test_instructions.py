"""``instructions`` (``type: general``) become the system message of main-model calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.config.instructions import apply_instructions, general_instructions
from langchain_guardrails.testing import FakeOpenAIServer

INSTRUCTED = RailsConfig.from_content(
    yaml_content="""
instructions:
  - type: general
    content: |
      You are the ACME support bot.
  - type: general
    content: A second one (NeMo uses the first).
"""
)


def test_instructions_become_a_leading_system_message() -> None:
    messages = [HumanMessage("Hi"), AIMessage("Hello"), HumanMessage("Help me")]
    assert apply_instructions(INSTRUCTED, messages) == [
        SystemMessage("You are the ACME support bot."),
        *messages,
    ]


def test_a_system_message_of_the_caller_wins_and_nothing_is_duplicated() -> None:
    messages = [HumanMessage("Hi"), SystemMessage("Be brief."), HumanMessage("Help me")]
    assert apply_instructions(INSTRUCTED, messages) == messages
    once = apply_instructions(INSTRUCTED, [HumanMessage("Hi")])
    assert apply_instructions(INSTRUCTED, once) == once  # applying twice adds nothing


def test_the_callers_list_is_never_modified() -> None:
    messages = [HumanMessage("Hi")]
    out = apply_instructions(INSTRUCTED, messages)
    assert messages == [HumanMessage("Hi")]
    assert out is not messages


@pytest.mark.parametrize(
    "yaml_content",
    [
        "",
        "instructions: [{type: other, content: Not general.}]",
        "instructions: [{type: general, content: '   '}]",
    ],
)
def test_no_general_instruction_leaves_the_messages_alone(yaml_content: str) -> None:
    config = RailsConfig.from_content(yaml_content=yaml_content)
    messages = [HumanMessage("Hi")]
    assert apply_instructions(config, messages) == messages
    assert general_instructions(config) is None


def test_the_first_general_instruction_is_used_as_in_nemo() -> None:
    config = RailsConfig.from_content(
        yaml_content="instructions: [{type: other, content: x}, {type: general, content: Y}, "
        "{type: general, content: Z}]"
    )
    assert general_instructions(config) == "Y"


@pytest.mark.requires("langchain_openai")
def test_the_main_model_receives_the_instructions_end_to_end(
    server: FakeOpenAIServer, corpus: Callable[[str], Path]
) -> None:
    server.replies = {"gpt-instructed": ["Sure."]}
    guarded = Guardrails(config=RailsConfig.from_path(corpus("instructions")))
    assert guarded.invoke("Hi").content == "Sure."
    assert server.chat_requests()[0]["messages"] == [
        {"role": "system", "content": "You are the ACME support bot. Answer in one sentence."},
        {"role": "user", "content": "Hi"},
    ]
