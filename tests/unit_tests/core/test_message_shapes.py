"""Chunks that are not plain text: tool calls, content blocks, bound models, text LLMs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake import FakeStreamingListLLM
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from langchain_guardrails import Guardrails
from langchain_guardrails.testing import FakeStreamingChatModel
from tests.unit_tests.core.configs import rails_config

CONFIG = rails_config(size=2, context=1)


class ShapedModel(BaseChatModel):
    """Streams the given chunks as they are."""

    parts: list[AIMessageChunk]

    @property
    def _llm_type(self) -> str:
        return "shaped"

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kw: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for part in self.parts:
            yield ChatGenerationChunk(message=part)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kw: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for part in self.parts:
            yield ChatGenerationChunk(message=part)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=""))])


async def test_tool_call_chunks_pass_through_and_merge() -> None:
    parts = [
        AIMessageChunk(content="Let me check. "),
        AIMessageChunk(
            content="",
            tool_call_chunks=[{"name": "weather", "args": '{"city": ', "id": "call_1", "index": 0}],
        ),
        AIMessageChunk(
            content="",
            tool_call_chunks=[{"name": None, "args": '"Paris"}', "id": None, "index": 0}],
        ),
    ]
    guarded = Guardrails(llm=ShapedModel(parts=parts), config=CONFIG)
    message = await guarded.ainvoke("weather?")
    assert message.content == "Let me check. "
    assert message.tool_calls == [
        {"name": "weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
    streamed = [c async for c in guarded.astream("weather?")]
    assert sum(1 for c in streamed if c.tool_call_chunks) == 2


async def test_content_block_lists_are_checked_as_text() -> None:
    parts = [
        AIMessageChunk(content=[{"type": "text", "text": "All ", "index": 0}]),
        AIMessageChunk(content=[{"type": "text", "text": "FORBIDDEN ", "index": 0}]),
        AIMessageChunk(content=[{"type": "text", "text": "stuff", "index": 0}]),
    ]
    out = [c async for c in Guardrails(llm=ShapedModel(parts=parts), config=CONFIG).astream("x")]
    assert out[-1].content == "I'm sorry, I can't respond to that."
    assert out[-1].response_metadata["guardrails"]["blocked"] is True
    passing = [
        AIMessageChunk(content=[{"type": "text", "text": t, "index": 0}]) for t in ("a ", "b ", "c")
    ]
    message = await Guardrails(llm=ShapedModel(parts=passing), config=CONFIG).ainvoke("x")
    assert message.text == "a b c"


async def test_bound_model_gets_stream_usage_on_a_copy() -> None:
    model = FakeStreamingChatModel(chunks=["a ", "b"])
    bound = model.bind(stop=["zzz"])
    guarded = Guardrails(llm=bound, config=CONFIG)
    out = [c async for c in guarded.astream("one two")]
    assert out[-1].usage_metadata == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    assert model.stream_usage is False
    assert bound.bound is model  # type: ignore[attr-defined]


async def test_text_completion_llms_are_guarded_too() -> None:
    llm = FakeStreamingListLLM(responses=["Hello FORBIDDEN world"])  # streams characters
    config = rails_config(size=12, context=10)
    out = [c async for c in Guardrails(llm=llm, config=config).astream("x")]
    assert out[-1].content == "I'm sorry, I can't respond to that."
    assert "FORBIDDEN" not in "".join(c.content for c in out)
