"""Issue 20 item 13: a refusal after released text comes after ``rails.refusal.separator``.

In-process streams glued the refusal onto the released text (``"Sure! The I'm sorry, …"``)
while the gateway separated them. Every stream now ends the same way (released text, the
separator chunk, the refusal alone as the last chunk, which is what ``invoke`` returns).
"""

from __future__ import annotations

import pytest

from langchain_guardrails import Guardrails, GuardrailsViolation, LLMRails
from langchain_guardrails.testing import FakeStreamingChatModel

from .configs import rails_config

REFUSAL = "I'm sorry, I can't respond to that."
# Hold-back, C=3, K=1: window 1 ("Sure, the admin ") passes and releases "Sure, the "; window
# 2 ("admin password FORBIDDEN ") blocks.
CHUNKS = ["Sure, ", "the ", "admin ", "password ", "FORBIDDEN ", "is ", "here."]


def guard(**top: object) -> Guardrails:
    return Guardrails(
        llm=FakeStreamingChatModel(chunks=CHUNKS), config=rails_config(size=3, context=1, **top)
    )


async def test_astream_puts_the_separator_between_released_text_and_the_refusal() -> None:
    chunks = [c async for c in guard().astream("hi")]
    assert [c.content for c in chunks] == ["Sure, ", "the ", "\n\n", REFUSAL]
    assert chunks[-1].response_metadata["guardrails"]["blocked"] is True
    assert chunks[-2].response_metadata == {}  # the separator is plain text


def test_stream_and_invoke_agree() -> None:
    guarded = guard()
    assert "".join(c.text for c in guarded.stream("hi")) == "Sure, the \n\n" + REFUSAL
    # invoke: the refusal alone, the text of the last streamed chunk (DESIGN, Violations).
    message = guarded.invoke("hi")
    assert message.content == REFUSAL
    assert message.response_metadata["guardrails"]["stage"] == "output"


async def test_separator_is_configurable_and_absent_before_any_text() -> None:
    config = rails_config(size=3, context=1)
    config = config.model_copy(
        update={
            "rails": config.rails.model_copy(
                update={"refusal": config.rails.refusal.model_copy(update={"separator": " | "})}
            )
        }
    )
    custom = Guardrails(llm=FakeStreamingChatModel(chunks=CHUNKS), config=config)
    assert "".join([c.text async for c in custom.astream("hi")]) == "Sure, the  | " + REFUSAL
    # Blocked in window 1: nothing was released, so no separator.
    early = Guardrails(llm=FakeStreamingChatModel(chunks=CHUNKS[3:]), config=config)
    assert [c.content async for c in early.astream("hi")] == [REFUSAL]


async def test_exceptions_mode_sends_no_separator() -> None:
    guarded = guard(enable_rails_exceptions=True)
    seen: list[str] = []
    with pytest.raises(GuardrailsViolation):
        async for chunk in guarded.astream("hi"):
            seen.append(chunk.text)
    assert seen == ["Sure, ", "the "]


async def test_llmrails_stream_async_separates_the_error_object() -> None:
    config = rails_config(size=3, context=1, streaming=True)
    rails = LLMRails(config, llm=FakeStreamingChatModel(chunks=CHUNKS))
    chunks = [c async for c in rails.stream_async(messages=[{"role": "user", "content": "hi"}])]
    assert chunks[:-1] == ["Sure, ", "the ", "\n\n"]
    assert chunks[-1].startswith('{"error": {"message": "Blocked by regex check output rails."')
