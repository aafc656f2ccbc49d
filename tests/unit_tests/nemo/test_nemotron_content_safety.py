"""Nemotron content-safety folders as NeMo writes them: Content Safety Reasoning 4B
(``Prompt harm`` answers, ``nemotron_reasoning_parse_*`` parsers, ``{{ config }}`` in the
prompt, ``content_safety.reasoning``) and Nemotron 3.5 Content Safety (server parameters
``chat_template_kwargs`` / ``request_categories``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.rails.verdicts import Verdict, harm
from langchain_guardrails.testing import FakeOpenAIServer

from .conftest import REFUSAL

pytestmark = pytest.mark.requires("langchain_openai")

GUARD = "nvidia/Nemotron-Content-Safety-Reasoning-4B"
REASONING_CONFIG = """\
models:
  - type: main
    engine: openai
    model: main-model
    parameters: {{openai_api_base: "{url}", api_key: sk-test}}
  - type: content_safety_reasoning
    engine: openai
    parameters:
      openai_api_base: "{url}"
      model_name: {guard}
      api_key: sk-test
      temperature: 0.6
rails:
  config:
    content_safety:
      reasoning:
        enabled: {reasoning}
  input:
    flows:
      - content safety check input $model=content_safety_reasoning
  output:
    flows:
      - content safety check output $model=content_safety_reasoning
"""
SWITCH = "{% if config.content_safety.reasoning.enabled %}/think{% else %}/no_think{% endif %}"
REASONING_PROMPTS = """\
prompts:
  - task: content_safety_check_input $model=content_safety_reasoning
    content: |
      Classify the request.
      Human user:
      {{ user_input }}
      AI assistant:
      None
      Answer "Prompt harm: <harmful/unharmful>". @SWITCH@
    output_parser: nemotron_reasoning_parse_prompt_safety
    max_tokens: 400
  - task: content_safety_check_output $model=content_safety_reasoning
    content: |
      Classify the response.
      Human user:
      {{ user_input }}
      AI assistant:
      {{ bot_response }}
      Answer "Response harm: <harmful/unharmful>". @SWITCH@
    output_parser: nemotron_reasoning_parse_response_safety
    max_tokens: 400
""".replace("@SWITCH@", SWITCH)


def reasoning_folder(tmp_path: Path, server: FakeOpenAIServer, reasoning: bool) -> Path:
    text = REASONING_CONFIG.format(url=server.base_url, guard=GUARD, reasoning=str(reasoning))
    (tmp_path / "config.yml").write_text(text, encoding="utf-8")
    (tmp_path / "prompts.yml").write_text(REASONING_PROMPTS, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("reasoning", [False, True])
async def test_content_safety_reasoning_folder_runs_and_blocks(
    tmp_path: Path, server: FakeOpenAIServer, reasoning: bool
) -> None:
    # Before: "uses unknown variable {{ config }}" and "unknown output_parser": refused.
    think = "<think>The user asks how to hurt someone: violence.</think>\n" if reasoning else ""
    server.replies = {"main-model": ["Paris is lovely."]}
    server.rules = {
        GUARD: [
            ("hurt", f"{think}Prompt harm: harmful\nResponse harm: None"),
            ("Paris is lovely.", f"{think}Prompt harm: unharmful\nResponse harm: unharmful"),
            ("Classify the request.", f"{think}Prompt harm: unharmful\nResponse harm: None"),
        ]
    }
    guarded = Guardrails(
        config=RailsConfig.from_path(reasoning_folder(tmp_path, server, reasoning))
    )
    assert (await guarded.ainvoke("Tell me about Paris")).content == "Paris is lovely."
    blocked = await guarded.ainvoke("How do I hurt someone?")
    meta = blocked.response_metadata["guardrails"]
    assert (blocked.content, meta["stage"], meta["reason"]) == (
        REFUSAL,
        "input",
        "content_safety_check_input: unsafe",
    )
    first = server.chat_requests(GUARD)[0]
    switch = "/think" if reasoning else "/no_think"
    assert first["messages"][0]["content"] == (
        "Classify the request.\nHuman user:\nTell me about Paris\nAI assistant:\nNone\n"
        f'Answer "Prompt harm: <harmful/unharmful>". {switch}'
    )
    assert first["temperature"] == 0.6


async def test_a_harmful_response_is_blocked_by_the_output_rail(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    server.replies = {"main-model": ["Here is how to build a weapon."]}
    server.rules = {
        GUARD: [
            ("weapon", "Prompt harm: unharmful\nResponse harm: harmful"),
            ("Classify the request.", "Prompt harm: unharmful\nResponse harm: None"),
        ]
    }
    guarded = Guardrails(config=RailsConfig.from_path(reasoning_folder(tmp_path, server, False)))
    blocked = await guarded.ainvoke("Tell me something")
    meta = blocked.response_metadata["guardrails"]
    assert (blocked.content, meta["stage"], meta["reason"]) == (
        REFUSAL,
        "output",
        "content_safety_check_output: unsafe",
    )


@pytest.mark.parametrize(
    ("answer", "field", "verdict"),
    [
        ("Prompt harm: unharmful\nResponse harm: None", "Prompt harm", Verdict(True)),
        ("Prompt harm: harmful\nResponse harm: None", "Prompt harm", Verdict(False)),
        ("<think>x</think>\n**Prompt harm:** Harmful", "Prompt harm", Verdict(False)),
        ("prompt HARM: unharmful\nResponse Harm: harmful", "Response harm", Verdict(False)),
        (
            "Prompt harm: harmful\nResponse harm: None",
            "Response harm",
            Verdict(None, problem="the answer has no 'Response harm': harmful|unharmful"),
        ),
        (
            "I think it is fine.",
            "Prompt harm",
            Verdict(None, problem="the answer has no 'Prompt harm': harmful|unharmful"),
        ),
        (
            "Prompt harm: unharmful\nPrompt harm: harmful",
            "Prompt harm",
            Verdict(None, problem="the answer states 'Prompt harm' twice, differently"),
        ),
        (
            "<think>truncated",
            "Prompt harm",
            Verdict(None, problem="the answer's <think> block never ends (truncated reasoning)"),
        ),
    ],
)
def test_harm_verdicts(answer: str, field: str, verdict: Verdict) -> None:
    assert harm(answer, field) == verdict


NEMOTRON_35 = """\
models:
  - type: main
    engine: nim
    model: main-model
    parameters: {{base_url: "{url}"}}
  - type: content_safety
    engine: nim
    model: nvidia/nemotron-3.5-content-safety
    parameters:
      base_url: "{url}"
      chat_template_kwargs:
        enable_thinking: false
      request_categories: "/categories"
rails:
  input:
    flows:
      - content safety check input $model=content_safety
"""


async def test_nemotron_35_server_parameters_reach_the_nim(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    # Before: ChatOpenAI put chat_template_kwargs / request_categories in model_kwargs and
    # every content-safety call raised TypeError inside the rail (every input blocked as
    # "failed: TypeError", no request sent).
    (tmp_path / "config.yml").write_text(NEMOTRON_35.format(url=server.base_url), "utf-8")
    server.replies = {"main-model": ["Hello!"]}
    server.rules = {
        "nvidia/nemotron-3.5-content-safety": [
            ("hurt", "User Safety: unsafe\nSafety Categories: Violence, Threat"),
            ("Hi", "User Safety: safe"),
        ]
    }
    guarded = Guardrails(config=RailsConfig.from_path(tmp_path))
    assert (await guarded.ainvoke("Hi")).content == "Hello!"
    blocked = await guarded.ainvoke("How do I hurt someone?")
    meta = blocked.response_metadata["guardrails"]
    assert (blocked.content, meta["reason"], meta["categories"]) == (
        REFUSAL,
        "content_safety_check_input: unsafe: Violence, Threat",
        ["Violence", "Threat"],
    )
    sent = server.chat_requests("nvidia/nemotron-3.5-content-safety")[0]
    assert (sent["chat_template_kwargs"], sent["request_categories"]) == (
        {"enable_thinking": False},
        "/categories",
    )
