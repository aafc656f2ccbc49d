"""Prompts render with a sandboxed Jinja2 environment: NeMo's variables and filters, control
flow, and errors that name the prompt's task."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.rails.prompting import Template, history_events
from langchain_guardrails.testing import FakeOpenAIServer

from .conftest import REFUSAL

pytestmark = pytest.mark.requires("langchain_openai")

ANSWER = ["Bake ", "the recipe ", "in the oven."]


def folder_guard(server: FakeOpenAIServer, corpus: Callable[[str], Path]) -> Guardrails:
    server.replies = {"main-model": ANSWER}
    server.rules = {
        "main-model": [("Is this message off-topic", "No"), ("Should this answer", "No")]
    }
    return Guardrails(config=RailsConfig.from_path(corpus("jinja_prompts")))


def test_nemo_prompts_with_control_flow_and_filters_render_as_nemo(
    server: FakeOpenAIServer, corpus: Callable[[str], Path]
) -> None:
    guarded = folder_guard(server, corpus)
    history = [
        HumanMessage("Hi"),
        AIMessage("Hello! Ask me about cooking."),
        HumanMessage("  How do I bake bread? "),
    ]
    assert guarded.invoke(history).content == "Bake the recipe in the oven."

    check_input, _main, check_output = server.chat_requests()
    assert check_input["messages"] == [
        {
            "role": "user",
            "content": "Only talk about cooking.\n"
            "Conversation so far:\n"
            "  User: Hi\n"
            "  Assistant: Hello! Ask me about cooking.\n"
            "  User:   How do I bake bread? \n"
            'Is this message off-topic: "How do I bake bread?"? Answer Yes or No.',
        }
    ]
    assert check_output["messages"] == [
        {"role": "system", "content": "ONLY TALK ABOUT COOKING."},
        {
            "role": "user",
            "content": "[mentions recipe] [mentions oven] "
            'Should this answer be blocked: "Bake the recipe in the oven."? Yes or No.',
        },
    ]


def test_a_first_turn_takes_the_other_branch(
    server: FakeOpenAIServer, corpus: Callable[[str], Path]
) -> None:
    guarded = folder_guard(server, corpus)
    assert guarded.invoke("Pasta?").content == "Bake the recipe in the oven."
    assert server.chat_requests()[0]["messages"][0]["content"] == (
        'Only talk about cooking.\nIs this message off-topic: "Pasta?"? Answer Yes or No.'
    )


def config_with(content: str) -> str:
    return (
        "models: [{type: main, engine: scripted}]\n"
        "rails: {input: {flows: [self check input]}}\n"
        f"prompts: [{{task: self_check_input, content: {content!r}}}]"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "Is {{ user_name }} ok?",
            "'self check input': prompt for task 'self_check_input' uses unknown variable "
            "{{ user_name }}; this task knows: user_input (and config, "
            "general_instructions, history, "
            "sample_conversation, sample_conversation_two_turns)",
        ),
        (
            "{% if flagged %}x{% endif %}{{ user_input }}",
            "'self check input': prompt for task 'self_check_input' uses unknown variable "
            "{{ flagged }}; this task knows: user_input (and config, "
            "general_instructions, history, "
            "sample_conversation, sample_conversation_two_turns)",
        ),
        (
            "{{ history | colang }} {{ user_input }}",
            "'self check input': prompt for task 'self_check_input': filter 'colang' is a "
            "Colang (dialog rails) filter, which needs a Colang history; available NeMo "
            "filters: indent, to_chat_messages, user_assistant_sequence (and Jinja's built-in "
            "filters)",
        ),
        (
            "{{ user_input | shout }}",
            "'self check input': prompt for task 'self_check_input': filter 'shout' is not a "
            "known filter; available NeMo filters: indent, to_chat_messages, "
            "user_assistant_sequence (and Jinja's built-in filters)",
        ),
        (
            "Check: {{ user_input + }}",
            "'self check input': prompt for task 'self_check_input': template syntax error on "
            "line 1: unexpected 'end of print statement'",
        ),
    ],
)
def test_prompt_errors_name_the_task_at_load(content: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        Guardrails(config=RailsConfig.from_content(yaml_content=config_with(content)))
    assert str(error.value) == message


async def test_the_sandbox_refuses_attribute_escapes_and_the_rail_fails_closed() -> None:
    config = RailsConfig.from_content(
        yaml_content=config_with("{{ user_input.__class__.__mro__ }}")
    )
    guarded = Guardrails(config=config)
    result = await guarded.ainvoke("hi")
    assert result.content == REFUSAL
    meta = result.response_metadata["guardrails"]
    assert (meta["rail"], meta["reason"]) == (
        "self check input",
        "rail 'self check input' failed: ValueError",
    )


def test_template_renders_statements_and_loops() -> None:
    template = Template("{% for m in history | to_chat_messages %}{{ m.role }};{% endfor %}")
    events = history_events([HumanMessage("a"), AIMessage("b")])
    assert template.render({"history": events}) == "user;assistant;"
    assert template.variables == frozenset({"history"})
