"""``Guardrails`` is accepted wherever a chat model is: ``BaseChatModel``, ``bind_tools``,
``with_structured_output``, and the runnables ``Guardrails(llm=...)`` takes."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.output_parsers.openai_tools import PydanticToolsParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel

from langchain_guardrails import Guardrails, GuardrailsViolation, RailsConfig
from langchain_guardrails.testing import FakeStreamingChatModel, FakeToolCallingModel, FakeTurn

REFUSAL = "I'm sorry, I can't respond to that."


class Person(BaseModel):
    """A person."""

    name: str
    password: str


def rails(*, exceptions: bool = False, tool_output: bool = False) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "enable_rails_exceptions": exceptions,
            "rails": {
                "output": {
                    "flows": ["regex check output"],
                    "streaming": {"enabled": True, "chunk_size": 4, "context_size": 1},
                },
                "tool_output": {"flows": ["regex check output"] if tool_output else []},
                "config": {"regex_detection": {"output": {"patterns": [r"hunter\d"]}}},
            },
        }
    )


def person_model(password: str) -> FakeToolCallingModel:
    call = {"name": "Person", "args": {"name": "Ann", "password": password}, "id": "p1"}
    return FakeToolCallingModel(turns=[FakeTurn(tool_calls=[call])])


def test_it_is_a_chat_model_with_the_wrapped_models_identity() -> None:
    guarded = Guardrails(llm=FakeStreamingChatModel(model_name="m-1"), config=rails())
    assert isinstance(guarded, BaseChatModel)
    assert guarded.model_name == "m-1"
    assert guarded._get_ls_params()["ls_model_name"] == "m-1"


def test_bind_tools_binds_on_the_wrapped_model_and_keeps_the_rails() -> None:
    from langchain_core.tools import tool

    @tool
    def lookup(city: str) -> str:
        """Look up a city."""
        return city

    base = Guardrails(llm=FakeToolCallingModel(turns=[FakeTurn(text="ok")]), config=rails())
    bound = base.bind_tools([lookup], tool_choice="any")
    assert isinstance(bound, Guardrails) and bound is not base
    assert bound._engine is base._engine  # rails are built once
    message = bound.invoke("hi")
    assert message.response_metadata["tools"] == ["lookup"]
    # The original guard is untouched.
    assert base.invoke("hi").response_metadata["tools"] == []


@pytest.mark.parametrize("include_raw", [False, True])
async def test_structured_output_is_parsed_from_a_passed_answer(include_raw: bool) -> None:
    guarded = Guardrails(llm=person_model("s3cret"), config=rails())
    structured = guarded.with_structured_output(Person, include_raw=include_raw)
    result = await structured.ainvoke("who?")
    parsed = result["parsed"] if include_raw else result
    assert parsed == Person(name="Ann", password="s3cret")
    again = structured.invoke("who?")  # the sync path parses the same answer
    assert (again["parsed"] if include_raw else again) == Person(name="Ann", password="s3cret")
    if include_raw:
        assert (result["parsing_error"], isinstance(result["raw"], AIMessage)) == (None, True)


@pytest.mark.parametrize("include_raw", [False, True])
async def test_structured_output_that_a_rail_blocks_is_the_refusal(include_raw: bool) -> None:
    # Only output rails are configured: the structured tool call *is* the answer.
    guarded = Guardrails(llm=person_model("hunter2"), config=rails())
    result = await guarded.with_structured_output(Person, include_raw=include_raw).ainvoke("who?")
    message = result["raw"] if include_raw else result
    assert isinstance(message, AIMessage)
    assert message.content == REFUSAL and not message.tool_calls
    # Only output rails are configured: they are the ones that blocked the structured answer.
    assert message.response_metadata["guardrails"]["stage"] == "output"
    if include_raw:
        assert (result["parsed"], result["parsing_error"]) == (None, None)
    streamed = [c async for c in guarded.with_structured_output(Person).astream("who?")]
    assert len(streamed) == 1 and streamed[0].content == REFUSAL


def test_structured_output_block_raises_with_exceptions_on() -> None:
    guarded = Guardrails(llm=person_model("hunter2"), config=rails(exceptions=True))
    with pytest.raises(GuardrailsViolation) as error:
        guarded.with_structured_output(Person).invoke("who?")
    assert error.value.stage == "output"
    assert "hunter2" not in str(error.value)


async def test_a_binding_and_a_tools_parser_never_parse_a_blocked_call() -> None:
    model = person_model("hunter2").bind_tools([Person])
    chain = Guardrails(llm=model, config=rails(tool_output=True)) | PydanticToolsParser(
        tools=[Person]
    )
    assert await chain.ainvoke("who?") == []


async def test_guarding_a_with_structured_output_result() -> None:
    passing = Guardrails(llm=person_model("s3cret").with_structured_output(Person), config=rails())
    assert await passing.ainvoke("who?") == Person(name="Ann", password="s3cret")
    blocked = Guardrails(llm=person_model("hunter2").with_structured_output(Person), config=rails())
    result = await blocked.ainvoke("who?")
    assert isinstance(result, AIMessage) and result.content == REFUSAL


async def test_a_prompt_and_model_chain_is_guarded_after_its_prompt() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "Tell me about {topic}")])
    model = FakeStreamingChatModel(chunks=["Paris ", "is ", "nice."])
    guarded = Guardrails(llm=prompt | model, config=rails())
    assert (await guarded.ainvoke({"topic": "Paris"})).content == "Paris is nice."
    chain = guarded | StrOutputParser()
    pieces = [c async for c in chain.astream({"topic": "Paris"})]
    assert [p for p in pieces if p] == ["Paris ", "is ", "nice."]
    assert guarded.get_input_schema().model_json_schema()["required"] == ["topic"]


@pytest.mark.parametrize(
    ("llm", "message"),
    [
        (
            RunnableLambda(lambda x: x),
            "Guardrails(llm=...) accepts a chat model or LLM, a binding of one",
        ),
        (
            FakeStreamingChatModel() | FakeStreamingChatModel(),
            "Guardrails(llm=...) got a chain with 2 models; guard each model on its own",
        ),
    ],
)
def test_what_it_does_not_accept_is_a_clear_type_error(llm: Any, message: str) -> None:
    with pytest.raises(TypeError) as error:
        Guardrails(llm=llm, config=rails())
    assert str(error.value).startswith(message)


async def test_callbacks_get_no_config_in_serialized() -> None:
    """``serialized`` names the class and the wrapped model, never the config (model
    parameters there may hold credentials)."""
    from langchain_core.callbacks import BaseCallbackHandler

    seen: list[Any] = []

    class Starts(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            seen.append(serialized)

    config = RailsConfig.from_content(
        config={
            "models": [
                {
                    "type": "guard",
                    "engine": "openai",
                    "model": "x",
                    "parameters": {"api_key": "sk-do-not-log"},
                }
            ]
        }
    )
    guarded = Guardrails(llm=FakeStreamingChatModel(chunks=["ok"]), config=config)
    await guarded.ainvoke("hi", config={"callbacks": [Starts()]})
    assert seen[0] == {
        "lc": 1,
        "type": "not_implemented",
        "id": ["langchain_guardrails", "Guardrails"],
        "repr": "Guardrails(llm=FakeStreamingChatModel)",
        "name": "Guardrails",
    }
    assert "sk-do-not-log" not in repr(seen)
