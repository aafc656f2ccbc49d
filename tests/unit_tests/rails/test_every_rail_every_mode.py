"""Every built-in rail works in invoke, stream, and astream in both ``stream_first`` modes, and
the LLM rails' usage reaches ``get_usage_metadata_callback``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import get_usage_metadata_callback

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.rails import BUILTIN_RAILS

from .conftest import RecordingChatModel

REPLY = ["The ", "office ", "opens ", "at ", "nine ", "every ", "weekday."]
PROMPTS = [
    {"task": "self_check_input", "content": "CHECK-IN {{ user_input }}"},
    {"task": "self_check_output", "content": "CHECK-OUT {{ bot_response }}"},
    {"task": "self_check_facts", "content": "FACTS {{ evidence }} / {{ response }}"},
    {"task": "self_check_hallucination", "content": "AGREE {{ paragraph }} / {{ statement }}"},
]
RULES = {
    "CHECK-IN": "No",
    "CHECK-OUT": "No",
    "FACTS": "Yes",
    "AGREE": "Yes",
    "Output JSON": '{"User Safety": "safe", "Response Safety": "safe"}',
    "'safe' or 'unsafe'": "safe",
}
INPUT_ONLY = {"jailbreak detection heuristics"}


def flow_for(name: str) -> str:
    if name.startswith("content safety"):
        return f"{name} $model=content_safety"
    if name.startswith("hf classifier"):
        return f"{name} $classifier=toxicity"
    if name.startswith("huggingface detector"):
        return f"{name} $hf_model=acme/toxicity"
    return name


@pytest.fixture(scope="module")
def hf_settings(tiny_causal_lm: Path, tiny_classifier: Path) -> dict[str, Any]:
    return {
        "jailbreak_detection": {"model_path": str(tiny_causal_lm)},
        "classifiers": {
            "toxicity": {"model_path": str(tiny_classifier), "block_labels": ["toxic"]}
        },
        "huggingface_detector": {
            "models": [
                {
                    "model_repo": "acme/toxicity",
                    "model_path": str(tiny_classifier),
                    "blocked_classes": ["toxic"],
                }
            ]
        },
        "sensitive_data_detection": {
            "input": {"entities": ["EMAIL_ADDRESS"]},
            "output": {"entities": ["EMAIL_ADDRESS"]},
        },
        "regex_detection": {"input": {"patterns": ["x^"]}, "output": {"patterns": ["x^"]}},
    }


def guarded(
    name: str, stream_first: bool, settings: dict[str, Any], models: dict[str, RecordingChatModel]
) -> tuple[Guardrails, RecordingChatModel]:
    stage = "input" if name.endswith("input") or name in INPUT_ONLY else "output"
    if " tool " in name:  # NeMo's tool flows of the detector check tool calls or results
        stage = "tool_input" if name.endswith("input") else "tool_output"
    models["guard"] = RecordingChatModel(rules=RULES)
    main = RecordingChatModel(chunks=REPLY, rules=RULES, model_name="main-model")
    config = RailsConfig.from_content(
        config={
            "models": [
                {"type": "content_safety", "engine": "rails_test", "model": "guard"},
                {"type": "llama_guard", "engine": "rails_test", "model": "guard"},
            ],
            "prompts": PROMPTS,
            "rails": {
                stage: {"flows": [flow_for(name)]},
                "output": {
                    **({"flows": [flow_for(name)]} if stage == "output" else {}),
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 3,
                        "context_size": 1,
                        "stream_first": stream_first,
                    },
                },
                "config": settings,
            },
        }
    )
    return Guardrails(llm=main, config=config), main


ELSEWHERE = {"jailbreak detection model", "topic safety check input"}
"""NeMo's remote jailbreak detection and topic control: tested in tests/unit_tests/nemo."""
RAILS = sorted(
    n
    for n in BUILTIN_RAILS
    if not n.startswith(("regex", "gliner")) and n not in ELSEWHERE  # GLiNER: a server (nemo/)
)


@pytest.mark.parametrize("stream_first", [True, False])
@pytest.mark.parametrize("name", RAILS)
async def test_every_rail_passes_a_clean_answer_in_every_mode(
    name: str,
    stream_first: bool,
    hf_settings: dict[str, Any],
    named_models: dict[str, RecordingChatModel],
) -> None:
    if name == "mask sensitive data on output" and stream_first:
        pytest.skip("masking output needs hold-back mode (a config error, tested elsewhere)")
    rails, _ = guarded(name, stream_first, hf_settings, named_models)
    # A system message is the evidence of ``self check facts``.
    question = [("system", "The office opens at nine."), ("human", "When does the office open?")]
    with get_usage_metadata_callback() as usage:
        streamed = "".join([c.content async for c in rails.astream(question)])
        invoked = (await rails.ainvoke(question)).content
    assert streamed == invoked == "".join(REPLY)
    assert "".join(c.content for c in rails.stream(question)) == "".join(REPLY)
    assert rails.invoke(question).content == "".join(REPLY)
    llm_rail = name.startswith(("self check", "content safety", "llama guard"))
    guard_used = name.startswith(("content safety", "llama guard"))
    assert ("guard-model" in usage.usage_metadata) is guard_used
    main_calls = usage.usage_metadata["main-model"]["output_tokens"]
    # Two guarded calls of 7 units each, plus the one-token answers of main-model rails.
    assert (main_calls > 14) is (llm_rail and not guard_used)
