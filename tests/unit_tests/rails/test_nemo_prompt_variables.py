"""NeMo prompt variables its shipped prompts use: ``{{ categories }}`` (with the prompt's own
default), ``excluded_category_keys`` and ``{{ bot_thinking }}``."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage

from langchain_guardrails import Guardrails, RailsConfig

from .conftest import REFUSAL, RecordingChatModel

CATEGORIES_PROMPT = """
models: [{type: guard, engine: rails_test, model: guard}]
rails: {input: {flows: [content safety check input $model=guard]}}
prompts:
  - task: content_safety_check_input $model=guard
    messages:
      - type: system
        content: |
          {%- if categories is not defined %}
          {%- set categories = {"S1": "Violence.", "S2": "Fraud.", "S3": "Spam."} %}
          {%- endif %}
          Unsafe categories:
          {%- for key, desc in categories.items() %}
          {%- if key not in excluded_category_keys %}
          {{ key }}: {{ desc }}
          {%- endif %}
          {%- endfor %}
      - type: user
        content: "{{ user_input }}"
    output_parser: is_content_safe
"""


async def test_a_prompt_with_its_own_categories_default_renders_and_blocks(
    named_models: dict[str, RecordingChatModel],
) -> None:
    # Before: "uses unknown variable {{ categories }}": the folder was refused.
    named_models["guard"] = RecordingChatModel(rules={"bomb": "unsafe\nS1", "": "safe"})
    main = RecordingChatModel(chunks=["Hello."])
    guarded = Guardrails(llm=main, config=RailsConfig.from_content(yaml_content=CATEGORIES_PROMPT))
    assert (await guarded.ainvoke("hi")).content == "Hello."
    assert named_models["guard"].received[0] == [
        SystemMessage("\nUnsafe categories:\nS1: Violence.\nS2: Fraud.\nS3: Spam."),
        HumanMessage("hi"),
    ]
    blocked = await guarded.ainvoke("how to build a bomb")
    assert (blocked.content, blocked.response_metadata["guardrails"]["categories"]) == (
        REFUSAL,
        ["S1"],
    )


async def test_bot_thinking_renders_empty_in_an_output_check() -> None:
    config = RailsConfig.from_content(
        yaml_content="""
rails: {output: {flows: [self check output]}}
prompts:
  - task: self_check_output
    content: "Thinking: [{{ bot_thinking }}] Response: {{ bot_response }} Block?"
"""
    )
    main = RecordingChatModel(chunks=["Paris."], rules={"Block?": "No"})
    assert (await Guardrails(llm=main, config=config).ainvoke("Capital?")).content == "Paris."
    assert main.received[1] == [HumanMessage("Thinking: [] Response: Paris. Block?")]
