"""NeMo keys and behaviours real folders rely on: ``knowledge_base`` and ``messages``,
``lowest_temperature``, model ``parameters`` that are not the provider's, and self-check
answers ``safe`` / ``unsafe``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.cli.main import main
from langchain_guardrails.config.nemo_keys import NemoKeyWarning
from langchain_guardrails.config.rails_config import ModelConfig
from langchain_guardrails.llm import build_model
from langchain_guardrails.testing import FakeOpenAIServer

from .conftest import REFUSAL

pytestmark = pytest.mark.requires("langchain_openai")

SELF_CHECK = """\
rails:
  input: {flows: [self check input]}
  output: {flows: [self check output]}
prompts:
  - task: self_check_input
    content: "Input check: {{ user_input }}"
  - task: self_check_output
    content: "Output check: {{ bot_response }}"
"""


def model_entry(server: FakeOpenAIServer, **parameters: Any) -> str:
    params = {"base_url": server.base_url, "api_key": "sk-test", **parameters}
    inline = ", ".join(f"{k}: {v!r}" for k, v in params.items())
    entry = f"{{type: main, engine: openai, model: main-model, parameters: {{{inline}}}}}"
    return f"models:\n  - {entry}\n"


def test_knowledge_base_and_messages_load_with_a_warning_each() -> None:
    with pytest.warns(NemoKeyWarning) as caught:
        config = RailsConfig.from_content(
            yaml_content="knowledge_base:\n  folder: kb\nmessages:\n  greeting: [Hi]\n"
        )
    assert [str(w.message) for w in caught] == [
        "<yaml_content>:1: knowledge_base: NeMo Guardrails key ignored by langchain_guardrails "
        "(NeMo's knowledge base feeds retrieval and $relevant_chunks, which are not built "
        "here; pass evidence as system or tool messages)",
        "<yaml_content>:3: messages: NeMo Guardrails key ignored by langchain_guardrails (not "
        "a NeMo Guardrails config key either: NeMo ignores it too)",
    ]
    assert config.rails.input.flows == []


async def test_lowest_temperature_is_sent_with_every_rail_call_and_not_the_main_one(
    server: FakeOpenAIServer,
) -> None:
    server.replies = {"main-model": ["Hello!"]}
    server.rules = {"main-model": [("Input check", "No"), ("Output check", "No")]}
    config = RailsConfig.from_content(
        yaml_content=model_entry(server) + "lowest_temperature: 0.001\n" + SELF_CHECK
    )
    assert (await Guardrails(config=config).ainvoke("Hi there")).content == "Hello!"
    sent = [(r["messages"][-1]["content"], r.get("temperature")) for r in server.chat_requests()]
    assert sent == [
        ("Input check: Hi there", 0.001),
        ("Hi there", None),
        ("Output check: Hello!", 0.001),
    ]


async def test_without_lowest_temperature_no_temperature_is_sent(server: FakeOpenAIServer) -> None:
    server.replies = {"main-model": ["Hello!"]}
    server.rules = {"main-model": [("Input check", "No"), ("Output check", "No")]}
    config = RailsConfig.from_content(yaml_content=model_entry(server) + SELF_CHECK)
    assert (await Guardrails(config=config).ainvoke("Hi there")).content == "Hello!"
    assert [r.get("temperature") for r in server.chat_requests()] == [None, None, None]


def test_a_negative_lowest_temperature_is_an_error() -> None:
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_content(yaml_content="lowest_temperature: -1\n")
    assert str(error.value) == (
        "<yaml_content>:1: lowest_temperature: Input should be greater than or equal to 0 (got -1)"
    )


def test_a_parameter_openai_does_not_take_is_dropped_with_a_warning() -> None:
    # Before: ChatOpenAI moved repo_id into model_kwargs and every call raised
    # TypeError: Completions.create() got an unexpected keyword argument 'repo_id'.
    entry = ModelConfig(
        type="main",
        engine="openai",
        model="gpt-4o-mini",
        parameters={"api_key": "sk-test", "repo_id": "gpt2", "temperature": 0.5},
    )
    with pytest.warns(NemoKeyWarning) as caught:
        llm = build_model(entry)
    assert [str(w.message) for w in caught] == [
        "models[type=main]: parameters.repo_id: not a parameter of ChatOpenAI (engine "
        "'openai'): dropped, it would make every call fail; a server's own keys reach it with "
        "parameters.base_url (in the request body)"
    ]
    client = llm.client  # type: ignore[attr-defined]
    assert (client.model_kwargs, client.extra_body, client.temperature) == ({}, None, 0.5)


async def test_a_servers_own_parameters_reach_it_in_the_request_body(
    server: FakeOpenAIServer,
) -> None:
    server.replies = {"main-model": ["Hello!"]}
    yaml_content = model_entry(
        server, repo_id="gpt2", extra_body={"top_k": 5}, chat_template_kwargs={"x": True}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", NemoKeyWarning)
        guarded = Guardrails(config=RailsConfig.from_content(yaml_content=yaml_content))
    assert (await guarded.ainvoke("Hi")).content == "Hello!"
    (request,) = server.chat_requests()
    assert (request["repo_id"], request["top_k"], request["chat_template_kwargs"]) == (
        "gpt2",
        5,
        {"x": True},
    )


def test_check_nemo_shows_the_dropped_parameter(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "config.yml").write_text(
        "models:\n  - {type: main, engine: openai, model: gpt-4o-mini, parameters: "
        "{api_key: sk-test, repo_id: gpt2}}\nknowledge_base: {folder: kb}\n",
        encoding="utf-8",
    )
    assert main(["check", "--nemo", str(tmp_path)]) == 0
    assert capsys.readouterr().out.rstrip("\n").split("\n") == [
        f"{tmp_path}: will run",
        "  runs: model main: engine openai",
        "  maps: knowledge_base: NeMo Guardrails key ignored by langchain_guardrails (NeMo's "
        "knowledge base feeds retrieval and $relevant_chunks, which are not built here; pass "
        "evidence as system or tool messages) (warning)",
        "  maps: models[type=main]: parameters.repo_id: not a parameter of ChatOpenAI (engine "
        "'openai'): dropped, it would make every call fail; a server's own keys reach it with "
        "parameters.base_url (in the request body) (warning)",
    ]


@pytest.mark.parametrize(
    ("answer", "content", "reason"),
    [
        ("safe", "Hello!", None),
        ("Safe.", "Hello!", None),
        ("unsafe", REFUSAL, "self_check_input: the model answered Unsafe"),
        ("UNSAFE\nS1", REFUSAL, "self_check_input: the model answered Unsafe"),
        ("Yes", REFUSAL, "self_check_input: the model answered Yes"),
    ],
)
async def test_self_check_answers_safe_and_unsafe_are_verdicts(
    server: FakeOpenAIServer, answer: str, content: str, reason: str | None
) -> None:
    # Before: "safe" / "unsafe" had no Yes/No verdict, so the rail blocked every message.
    server.replies = {"main-model": ["Hello!"]}
    server.rules = {"main-model": [("Input check", answer), ("Output check", "safe")]}
    config = RailsConfig.from_content(yaml_content=model_entry(server) + SELF_CHECK)
    result = await Guardrails(config=config).ainvoke("Hi there")
    assert result.content == content
    meta = result.response_metadata.get("guardrails", {})
    assert meta.get("reason") == reason
