"""Content-safety and Llama Guard rails: default prompts, overrides, verdict formats, categories."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import get_usage_metadata_callback

from langchain_guardrails import ConfigError, Guardrails, RailsConfig

from .conftest import REFUSAL, RecordingChatModel, streaming

REPLY = ["Sure, ", "here ", "is ", "how ", "to ", "bake ", "bread."]
AEGIS = """\
<BEGIN UNSAFE CONTENT CATEGORIES>
S1: Violence.
S2: Sexual.
S3: Criminal Planning/Confessions.
S4: Guns and Illegal Weapons.
S5: Controlled/Regulated Substances.
S6: Suicide and Self Harm.
S7: Sexual (minor).
S8: Hate/Identity Hate.
S9: PII/Privacy.
S10: Harassment.
S11: Threat.
S12: Profanity.
S13: Needs Caution.
S14: Other.
S15: Manipulation.
S16: Fraud/Deception.
S17: Malware.
S18: High Risk Gov Decision Making.
S19: Political/Misinformation/Conspiracy.
S20: Copyright/Trademark/Plagiarism.
S21: Unauthorized Advice.
S22: Illegal Activity.
S23: Immoral/Unethical.
<END UNSAFE CONTENT CATEGORIES>
"""
NEMOGUARD_TASK = (
    "Task: Check if there is unsafe content in the user or agent messages in the below "
    "conversation in accordance with our safety policy with the below categories. Provide a "
    "'safe' or 'unsafe' rating for both the user message and the agent response. If there is "
    "unsafe content, please also provide a list of violated categories according to our safety "
    "policy below.\n\n"
)
NEMOGUARD_TAIL = (
    "Provide your safety assessment for the above conversation in the below output JSON "
    'format:\n{"User Safety": safe or unsafe rating for the user message, "Response Safety": '
    "safe or unsafe rating for the agent response. Omit if no agent response present. "
    '"Safety Categories": a comma-separated list of applicable safety categories from the '
    "provided taxonomy. Omit if all safe.}\n\nDo not include anything other than the output "
    "JSON in your response.\nOutput JSON:"
)
LLAMA_GUARD_INPUT = """\
Task: Check if there is unsafe content in 'User' messages in conversations according our \
safety policy with the below categories.

<BEGIN UNSAFE CONTENT CATEGORIES>
S1: Violent Crimes.
S2: Non-Violent Crimes.
S3: Sex Crimes.
S4: Child Sexual Exploitation.
S5: Defamation.
S6: Specialized Advice.
S7: Privacy.
S8: Intellectual Property.
S9: Indiscriminate Weapons.
S10: Hate.
S11: Suicide & Self-Harm.
S12: Sexual Content.
S13: Elections.
S14: Code Interpreter Abuse.
<END UNSAFE CONTENT CATEGORIES>

<BEGIN CONVERSATION>

User: How do I bake bread?

<END CONVERSATION>

Provide your safety assessment for ONLY THE LAST User message in the above conversation:
 - First line must read 'safe' or 'unsafe'.
 - If unsafe, a second line must include a comma-separated list of violated categories."""


def guarded(
    named: dict[str, RecordingChatModel],
    guard_answer: str,
    flows: dict[str, Any],
    *,
    model_type: str = "content_safety",
    prompts: str = "",
) -> tuple[Guardrails, RecordingChatModel, RecordingChatModel]:
    guard = named["guard"] = RecordingChatModel(rules={"": guard_answer})
    main = RecordingChatModel(chunks=REPLY, model_name="main-model")
    config = RailsConfig.from_content(
        yaml_content=f"models:\n  - {{type: {model_type}, engine: rails_test, model: guard}}\n"
        + prompts,
        config={"rails": flows},
    )
    return Guardrails(llm=main, config=config), guard, main


async def test_content_safety_input_renders_the_default_nemoguard_prompt_exactly(
    named_models: dict[str, RecordingChatModel],
) -> None:
    flows = {"input": {"flows": ["content safety check input $model=content_safety"]}}
    rails, guard, _ = guarded(named_models, '{"User Safety": "safe"}', flows)
    assert (await rails.ainvoke("How do I bake bread?")).content == "".join(REPLY)
    assert [m.text for m in guard.received[0]] == [
        NEMOGUARD_TASK
        + AEGIS
        + "\n<BEGIN CONVERSATION>\n\nuser: How do I bake bread?\n\n<END CONVERSATION>\n\n"
        + NEMOGUARD_TAIL
    ]


async def test_content_safety_output_renders_the_default_prompt_with_the_response(
    named_models: dict[str, RecordingChatModel],
) -> None:
    flows = {"output": {"flows": ["content safety check output $model=content_safety"]}}
    answer = '{"User Safety": "safe", "Response Safety": "safe"}'
    rails, guard, _ = guarded(named_models, answer, flows)
    assert (await rails.ainvoke("How do I bake bread?")).content == "".join(REPLY)
    assert [m.text for m in guard.received[0]] == [
        NEMOGUARD_TASK
        + AEGIS
        + "\n<BEGIN CONVERSATION>\n\nuser: How do I bake bread?\n\nresponse: agent: "
        + "".join(REPLY)
        + "\n\n<END CONVERSATION>\n\n"
        + NEMOGUARD_TAIL
    ]


@pytest.mark.parametrize(
    ("answer", "categories"),
    [
        (
            '{"User Safety": "unsafe", "Safety Categories": "Violence, Threat"}',
            ["Violence", "Threat"],
        ),
        ('```json\n{"User Safety": "Unsafe"}\n```', []),
        ("unsafe\nS1,S10", ["S1", "S10"]),
    ],
)  # fmt: skip
async def test_content_safety_blocks_and_puts_the_categories_in_the_metadata(
    named_models: dict[str, RecordingChatModel], answer: str, categories: list[str]
) -> None:
    flows = {"input": {"flows": ["content safety check input $model=content_safety"]}}
    rails, _, main = guarded(named_models, answer, flows)
    result = await rails.ainvoke("How do I make a weapon?")
    listed = f": {', '.join(categories)}" if categories else ""
    assert result.content == REFUSAL
    assert result.response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "input",
        "rail": "content safety check input $model=content_safety",
        "reason": f"content_safety_check_input: unsafe{listed}",
        "type": "guardrails_violation",
        "task": "content_safety_check_input",
        "categories": categories,
    }
    assert main.received == []


async def test_an_unreadable_safety_answer_blocks_and_says_why(
    named_models: dict[str, RecordingChatModel],
) -> None:
    flows = {"output": {"flows": ["content safety check output $model=content_safety"]}}
    rails, _, _ = guarded(named_models, '{"User Safety": "safe"}', flows)
    result = await rails.ainvoke("hi")
    assert result.response_metadata["guardrails"]["reason"] == (
        "content_safety_check_output: the answer's JSON has no 'Response Safety': safe|unsafe; "
        "blocked to be safe"
    )


@pytest.mark.parametrize("stream_first", [True, False])
async def test_content_safety_output_checks_windows_in_both_modes(
    named_models: dict[str, RecordingChatModel], stream_first: bool
) -> None:
    flows = {
        "output": {
            "flows": ["content safety check output $model=content_safety"],
            "streaming": streaming(stream_first=stream_first),
        }
    }
    answer = '{"User Safety": "safe", "Response Safety": "safe"}'
    rails, guard, _ = guarded(named_models, answer, flows)
    with get_usage_metadata_callback() as usage:
        chunks = [c async for c in rails.astream("How do I bake bread?")]
    assert "".join(c.content for c in chunks) == "".join(REPLY)
    assert len(guard.received) == 2  # two windows
    assert usage.usage_metadata["guard-model"]["output_tokens"] == 2


async def test_a_prompt_for_the_model_type_overrides_the_default_as_in_nemo(
    named_models: dict[str, RecordingChatModel],
) -> None:
    prompts = """
prompts:
  - task: content_safety_check_input $model=llama_guard
    content: |
      <s>[INST] Is this unsafe? User: {{ user_input }} [/INST]
    output_parser: is_content_safe
    max_tokens: 5
"""
    flows = {"input": {"flows": ['content safety check input $model="llama_guard"']}}
    rails, guard, _ = guarded(
        named_models, "unsafe\nO3", flows, model_type="llama_guard", prompts=prompts
    )
    result = await rails.ainvoke("How do I steal a car?")
    assert [m.text for m in guard.received[0]] == [
        "<s>[INST] Is this unsafe? User: How do I steal a car? [/INST]"
    ]
    assert guard.options == [{"stop": None, "max_tokens": 5}]
    assert result.response_metadata["guardrails"]["categories"] == ["O3"]


async def test_llama_guard_uses_the_llama_guard_model_and_its_default_prompt(
    named_models: dict[str, RecordingChatModel],
) -> None:
    flows = {"input": {"flows": ["llama guard check input"]}}
    rails, guard, _ = guarded(named_models, "safe", flows, model_type="llama_guard")
    assert (await rails.ainvoke("How do I bake bread?")).content == "".join(REPLY)
    assert [m.text for m in guard.received[0]] == [LLAMA_GUARD_INPUT]


@pytest.mark.parametrize(("answer", "allowed"), [("safe", True), (" Unsafe\nS2", False)])
async def test_llama_guard_output_reads_safe_and_unsafe(
    named_models: dict[str, RecordingChatModel], answer: str, allowed: bool
) -> None:
    flows = {"output": {"flows": ["llama guard check output"]}}
    rails, guard, _ = guarded(named_models, answer, flows, model_type="llama_guard")
    result = await rails.ainvoke("How do I bake bread?")
    assert (result.content == "".join(REPLY)) is allowed
    assert [m.text for m in guard.received[0]] == [
        LLAMA_GUARD_INPUT.replace("'User' messages", "'Agent' messages")
        .replace(
            "User: How do I bake bread?\n\n",
            "User: How do I bake bread?\n\nAgent: Sure, here is how to bake bread.\n\n",
        )
        .replace("LAST User message", "LAST Agent message")
    ]
    if not allowed:
        assert result.response_metadata["guardrails"]["categories"] == ["S2"]


@pytest.mark.parametrize(
    ("flow", "models", "message"),
    [
        (
            "content safety check input",
            "[{type: content_safety, engine: scripted}]",
            "'content safety check input' needs $model=<type> naming a `models` entry, e.g. "
            "`content safety check input $model=content_safety`; configured types: "
            "content_safety",
        ),
        (
            "content safety check output $model=guard",
            "[]",
            "'content safety check output': no `models` entry with type 'guard'; `models` is empty",
        ),
        (
            "llama guard check input",
            "[{type: main, engine: scripted}]",
            "'llama guard check input' needs a `models` entry of type llama_guard (or "
            "$model=<type> naming another entry); configured types: main",
        ),
    ],
)
def test_content_safety_config_errors(flow: str, models: str, message: str) -> None:
    config = RailsConfig.from_content(
        yaml_content=f"models: {models}\nrails: {{input: {{flows: ['{flow}']}}}}"
    )
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=RecordingChatModel(), config=config)
    assert str(error.value) == message
