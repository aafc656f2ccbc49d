"""Sync calls use the models' sync APIs (async clients stay on the caller's loop)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_guardrails import Guardrails, action
from langchain_guardrails.testing import FakeStreamingChatModel
from tests.unit_tests.core.configs import rails_config


class ApiRecorder(FakeStreamingChatModel):
    """Records which API served each call: ``sync`` or ``async``."""

    calls: list[str]

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append("sync")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Yes"))])

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        self.calls.append("async")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Yes"))])

    def _stream(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("sync-stream")
        yield from super()._stream(*args, **kwargs)

    async def _astream(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("async-stream")
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk


@action(name="ask the model")
async def ask_the_model(llm: Any) -> bool:
    return (await llm.ainvoke("Is this fine?")).content == "Yes"


def make() -> tuple[Guardrails, ApiRecorder]:
    model = ApiRecorder(chunks=["fine ", "text"], calls=[])
    config = rails_config(
        flows_in=["ask the model"], flows_out=["ask the model"], size=1, context=0
    )
    return Guardrails(llm=model, config=config, actions=[ask_the_model]), model


def test_sync_calls_use_sync_apis_for_the_model_and_the_rails() -> None:
    guarded, model = make()
    assert guarded.invoke("hi").content == "fine text"
    assert model.calls == ["sync", "sync-stream", "sync", "sync"]
    model.calls.clear()
    assert guarded.check("hi", output="some text").status == "passed"
    assert model.calls == ["sync"]


async def test_async_calls_use_async_apis() -> None:
    guarded, model = make()
    assert (await guarded.ainvoke("hi")).content == "fine text"
    assert model.calls == ["async", "async-stream", "async", "async"]
