"""Prompt templates, prompt choice by model, and the config errors of LLM rails."""

from __future__ import annotations

import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.config.rails_config import TaskPrompt
from langchain_guardrails.rails.prompting import Template, choose, prepare, prompt_score

from .conftest import RecordingChatModel


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("Hello {{ name }}!", "Hello Ann!"),
        ("{{name}}{{ name }}", "AnnAnn"),
        ("a\n  {{- name -}}  \nb", "aAnnb"),
        ("x {# a comment #}y", "x y"),
        ("line\n", "line"),  # one trailing newline is dropped, as Jinja does
        ("line\n\n", "line\n"),
        ("no variables", "no variables"),
        ('{"json": "braces"} {{ name }}', '{"json": "braces"} Ann'),
    ],
)
def test_template_renders_variables_like_jinja(source: str, rendered: str) -> None:
    assert Template(source).render({"name": "Ann"}) == rendered


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("{% if name %}Hi {{ name }}{% endif %}", "Hi Ann"),
        ("{{ name | upper }}", "ANN"),
        ("{{ name ~ '!' }}", "Ann!"),
        ("{% for c in name %}{{ c }}.{% endfor %}", "A.n.n."),
    ],
)
def test_template_renders_jinja_statements_filters_and_expressions(
    source: str, rendered: str
) -> None:
    # These were rejected before prompts were rendered by (sandboxed) Jinja2.
    assert Template(source).render({"name": "Ann"}) == rendered


def prompt(models: list[str] | None = None, content: str = "x") -> TaskPrompt:
    return TaskPrompt(task="self_check_input", content=content, models=models)


@pytest.mark.parametrize(
    ("models", "model_id", "score"),
    [
        (None, "openai/gpt-4o", 0.2),
        (["openai/gpt-4o"], "openai/gpt-4o", 1.0),
        (["gpt-4o"], "openai/gpt-4o", 0.8),
        (["openai"], "openai/gpt-4o", 0.5),
        (["anthropic"], "openai/gpt-4o", 0.0),
        (["openai"], None, 0.0),
    ],
)
def test_prompt_score_follows_nemo(
    models: list[str] | None, model_id: str | None, score: float
) -> None:
    assert prompt_score(prompt(models), model_id) == score


def test_choose_prefers_the_best_match_and_the_later_prompt_on_a_tie() -> None:
    general = prepare(prompt(content="general"), ["user_input"], "t")
    provider = prepare(prompt(["openai"], "provider"), ["user_input"], "t")
    exact = prepare(prompt(["openai/gpt-4o"], "exact"), ["user_input"], "t")
    later = prepare(prompt(content="later"), ["user_input"], "t")
    pick = lambda items, model_id: choose(items, model_id).prompt.content  # noqa: E731
    assert pick([general, provider, exact], "openai/gpt-4o") == "exact"
    assert pick([general, provider], "openai/gpt-4o") == "provider"
    assert pick([provider, general], "anthropic/claude") == "general"
    assert pick([general, later], "openai/gpt-4o") == "later"
    assert choose([provider], "anthropic/claude") is None


async def test_the_prompt_is_chosen_by_the_model_of_the_config() -> None:
    config = RailsConfig.from_content(
        yaml_content="""
models: [{type: main, engine: scripted, model: scripted-1}]
rails: {input: {flows: [self check input]}}
prompts:
  - task: self_check_input
    content: "GENERAL {{ user_input }}"
  - task: self_check_input
    models: [scripted]
    content: "FOR SCRIPTED {{ user_input }}"
  - task: self_check_input
    models: [openai]
    content: "FOR OPENAI {{ user_input }}"
"""
    )
    llm = RecordingChatModel(chunks=["ok"], rules={"SCRIPTED": "No", "OPENAI": "Yes"})
    result = await Guardrails(llm=llm, config=config).ainvoke("hi")
    assert result.content == "ok"
    assert llm.prompts() == ["FOR SCRIPTED hi"]


async def test_the_prompt_is_chosen_by_the_model_object_when_the_config_has_none() -> None:
    config = RailsConfig.from_content(
        yaml_content="""
rails: {input: {flows: [self check input]}}
prompts:
  - task: self_check_input
    models: [other-model]
    content: "OTHER {{ user_input }}"
  - task: self_check_input
    models: [guard-model]
    content: "MINE {{ user_input }}"
"""
    )
    llm = RecordingChatModel(chunks=["ok"], rules={"MINE": "No", "OTHER": "Yes"})
    assert (await Guardrails(llm=llm, config=config).ainvoke("hi")).content == "ok"
    assert llm.prompts() == ["MINE hi"]


async def test_a_model_object_no_prompt_applies_to_blocks_with_the_reason() -> None:
    config = RailsConfig.from_content(
        yaml_content="""
rails: {input: {flows: [self check input]}}
prompts:
  - task: self_check_input
    models: [openai/gpt-4o]
    content: "{{ user_input }}"
"""
    )
    result = await Guardrails(llm=RecordingChatModel(chunks=["ok"]), config=config).ainvoke("hi")
    assert result.response_metadata["guardrails"]["type"] == "internal_error"
    # The details (which may quote text) go to the log; the reason names the type only.
    assert result.response_metadata["guardrails"]["reason"] == (
        "rail 'self check input' failed: LookupError"
    )


def build(yaml_content: str) -> Guardrails:
    return Guardrails(llm=RecordingChatModel(), config=RailsConfig.from_content(yaml_content))


@pytest.mark.parametrize(
    ("yaml_content", "message"),
    [
        (
            "rails: {input: {flows: [self check input]}}",
            "'self check input' needs a prompt for task 'self_check_input': add `- task: "
            "self_check_input` with a `content` using {{ user_input }} to `prompts`",
        ),
        (
            "rails: {output: {flows: [self check output]}}",
            "'self check output' needs a prompt for task 'self_check_output': add `- task: "
            "self_check_output` with a `content` using {{ bot_response }}, {{ user_input }} to "
            "`prompts`",
        ),
        (
            "rails: {output: {flows: [self check facts]}}",
            "'self check facts' needs a prompt for task 'self_check_facts': add `- task: "
            "self_check_facts` with a `content` using {{ bot_response }}, {{ evidence }}, "
            "{{ response }}, {{ user_input }} to `prompts`",
        ),
        (
            "rails: {output: {flows: [self check hallucination]}}",
            "'self check hallucination' needs a prompt for task 'self_check_hallucination': add "
            "`- task: self_check_hallucination` with a `content` using {{ bot_response }}, "
            "{{ paragraph }}, {{ statement }}, {{ user_input }} to `prompts`",
        ),
        (
            "rails: {input: {flows: [self check input]}}\n"
            "prompts: [{task: self_check_input, content: 'Is {{ bot_response }} ok?'}]",
            "'self check input': prompt for task 'self_check_input' uses unknown variable "
            "{{ bot_response }}; this task knows: user_input (and config, "
            "general_instructions, history, "
            "sample_conversation, sample_conversation_two_turns)",
        ),
        (
            "rails: {input: {flows: [self check input]}}\n"
            "prompts: [{task: self_check_input, content: '{% for m in x %}{% endfor %}'}]",
            "'self check input': prompt for task 'self_check_input' uses unknown variable "
            "{{ x }}; this task knows: user_input (and config, "
            "general_instructions, history, "
            "sample_conversation, sample_conversation_two_turns)",
        ),
        (
            "rails: {input: {flows: [self check input]}}\n"
            "prompts: [{task: self_check_input, content: '{{ user_input }}', "
            "output_parser: user_intent}]",
            "'self check input': prompt for task 'self_check_input': unknown output_parser "
            "'user_intent'; supported: is_content_safe",
        ),
        (
            "rails: {input: {flows: [self check input]}}\n"
            "prompts: [{task: self_check_input, messages: [{type: robot, content: x}]}]",
            "'self check input': prompt for task 'self_check_input', messages[0]: needs `type` "
            "(system, user, human, assistant, bot, ai) and a string `content`",
        ),
        (
            "rails: {input: {flows: [self check input $model=guard]}}\n"
            "models: [{type: main, engine: scripted}]\n"
            "prompts: [{task: self_check_input, content: '{{ user_input }}'}]",
            "'self check input': no `models` entry with type 'guard'; configured types: main",
        ),
        (
            "rails: {input: {flows: [self check input $modle=guard]}}\n"
            "prompts: [{task: self_check_input, content: '{{ user_input }}'}]",
            "'self check input': unknown parameter $modle; known parameters: $model",
        ),
        (
            "rails: {input: {flows: [self check input]}}\n"
            "models: [{type: main, engine: openai, model: gpt-4o}]\n"
            "prompts: [{task: self_check_input, models: [anthropic], content: '{{ user_input }}'}]",
            "'self check input': no prompt for task 'self_check_input' applies to model "
            "openai/gpt-4o; the prompts are restricted to models: anthropic",
        ),
    ],
)
def test_llm_rail_config_errors_are_clear(yaml_content: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        build(yaml_content)
    assert str(error.value) == message


async def test_a_messages_prompt_renders_each_message() -> None:
    llm = RecordingChatModel(chunks=["ok"], rules={"Judge": "No"})
    config = RailsConfig.from_content(
        yaml_content="""
rails: {input: {flows: [self check input]}}
prompts:
  - task: self_check_input
    messages:
      - {type: system, content: "Judge. Answer Yes or No."}
      - {type: user, content: "Message: {{ user_input }}"}
"""
    )
    assert (await Guardrails(llm=llm, config=config).ainvoke("hi")).content == "ok"
    assert [(m.type, m.text) for m in llm.received[0]] == [
        ("system", "Judge. Answer Yes or No."),
        ("human", "Message: hi"),
    ]
