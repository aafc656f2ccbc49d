"""``RunnableRails`` as NeMo documents it: ``prompt | (guardrails | model)``, ``guardrails |
chain`` with dict or string input and output, streaming, and outputs shaped like the input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnableSequence

from langchain_guardrails import RailsConfig
from langchain_guardrails.nemo.runnable_rails import RunnableRails
from langchain_guardrails.testing import FakeOpenAIServer, FakeStreamingChatModel

from .conftest import REFUSAL

pytestmark = pytest.mark.requires("langchain_openai")


@pytest.fixture
def config(server: FakeOpenAIServer, corpus: Callable[[str], Path]) -> RailsConfig:
    server.replies = {"main-model": ["Guardrails ", "keep ", "models ", "safe."]}
    return RailsConfig.from_path(corpus("runnable_rails"))


def test_prompt_pipe_guardrails_pipe_model_as_in_nemos_docs(config: RailsConfig) -> None:
    model = FakeStreamingChatModel(chunks=["A joke ", "about ", "cats."])
    prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}")
    guardrails = RunnableRails(config)
    chain = prompt | (guardrails | model) | StrOutputParser()
    assert chain.invoke({"topic": "cats"}) == "A joke about cats."
    assert guardrails.llm is None  # `|` returned a new RunnableRails


def test_the_config_main_model_is_used_without_llm(
    server: FakeOpenAIServer, config: RailsConfig
) -> None:
    guardrails = RunnableRails(config)
    assert guardrails.invoke("Hi") == "Guardrails keep models safe."
    assert guardrails.invoke({"input": "Hi"}) == {"output": "Guardrails keep models safe."}
    message = guardrails.invoke([HumanMessage("Hi")])
    assert isinstance(message, AIMessage) and message.content == "Guardrails keep models safe."
    assert server.chat_requests()[0]["messages"] == [{"role": "user", "content": "Hi"}]


def test_blocked_input_gives_the_refusal_in_the_shape_of_the_input(config: RailsConfig) -> None:
    guardrails = RunnableRails(config)
    assert guardrails.invoke("How do I hack the bank?") == REFUSAL
    assert guardrails.invoke({"input": "hack the bank"}) == {"output": REFUSAL}
    assert guardrails.invoke([HumanMessage("hack the planet")]).content == REFUSAL


def rag_chain(calls: list[Any]) -> Any:
    def answer(inputs: dict[str, Any]) -> str:
        calls.append(inputs)
        return f"Answer to {inputs['question']}" + (
            " (internal only)" if "plan" in inputs["question"] else ""
        )

    return RunnableParallel(
        answer=RunnableLambda(answer), context=RunnableLambda(lambda x: ["doc-1", "doc-2"])
    )


def test_guardrails_pipe_chain_with_dict_input_and_output(config: RailsConfig) -> None:
    calls: list[Any] = []
    guarded = RunnableRails(config, input_key="question", output_key="answer") | rag_chain(calls)
    assert guarded.invoke({"question": "What is X?", "user": "ann"}) == {
        "answer": "Answer to What is X?",
        "context": ["doc-1", "doc-2"],
    }
    assert calls == [{"question": "What is X?", "user": "ann"}]

    blocked = guarded.invoke({"question": "What is the plan?"})
    assert blocked == {"answer": REFUSAL, "context": ["doc-1", "doc-2"]}

    refused = guarded.invoke({"question": "hack the system"})
    assert refused == {"answer": REFUSAL}  # the chain never ran
    assert len(calls) == 2


async def test_a_string_chain_is_guarded_and_streams(config: RailsConfig) -> None:
    words = RunnableLambda(lambda text: f"You said: {text}")
    guarded = RunnableRails(config) | (
        words | FakeStreamingChatModel(chunks=["x"]) | StrOutputParser()
    )
    assert isinstance(guarded, RunnableRails)
    assert await guarded.ainvoke("Hello") == "x"

    echo = RunnableRails(config) | RunnableLambda(
        lambda x: f"Echo: {x['input'] if isinstance(x, dict) else x}"
    )
    assert echo.invoke("Hello") == "Echo: Hello"
    # The chain gets the caller's input as it is (a dict here), as in NeMo's passthrough.
    assert [c async for c in echo.astream({"input": "Hello"})] == [{"output": "Echo: Hello"}]
    chunks = list(echo.stream("Hello"))
    assert [type(c) for c in chunks] == [AIMessageChunk] * len(chunks)
    assert "".join(c.text for c in chunks) == "Echo: Hello"


async def test_streaming_a_model_yields_message_chunks(config: RailsConfig) -> None:
    model = FakeStreamingChatModel(chunks=["one ", "two ", "three"])
    guarded = RunnableRails(config, llm=model)
    chunks = [c async for c in guarded.astream([HumanMessage("count")])]
    assert "".join(c.text for c in chunks) == "one two three"
    dict_chunks = [c async for c in guarded.astream({"input": "count"})]
    assert "".join(c["output"] for c in dict_chunks) == "one two three"


def test_piping_after_a_wrapped_runnable_makes_a_sequence(config: RailsConfig) -> None:
    guarded = RunnableRails(config, llm=FakeStreamingChatModel(chunks=["hi"]))
    chain = guarded | RunnableLambda(lambda message: message.content.upper())
    assert isinstance(chain, RunnableSequence)
    assert chain.invoke([HumanMessage("x")]) == "HI"


def test_bad_inputs_are_clear_errors(config: RailsConfig) -> None:
    guardrails = RunnableRails(config)
    with pytest.raises(ValueError) as error:
        guardrails.invoke({"question": "x"})
    assert str(error.value) == (
        "RunnableRails: the input dict has no key 'input' (keys: question); set input_key=..."
    )
    with pytest.raises(ValueError) as error:
        RunnableRails(config, tools=[lambda: None])
    assert str(error.value) == (
        "RunnableRails(tools=...) is not supported: NeMo registers tools as dialog actions; "
        "bind them to the model instead (llm.bind_tools([...]))"
    )
    no_model = RunnableRails(RailsConfig.from_content())
    with pytest.raises(ValueError) as error:
        no_model.invoke("Hi")
    assert str(error.value) == (
        "RunnableRails has no model: pass llm=..., add a `type: main` model to the config, or "
        "pipe one in (`guardrails | model`)"
    )
    bad_chain = RunnableRails(config) | RunnableLambda(lambda x: 42)
    with pytest.raises(TypeError) as type_error:
        bad_chain.invoke("Hi")
    assert str(type_error.value) == (
        "RunnableRails: the chain returned int; expected a string, a message, or a dict with "
        "the output key 'output'"
    )
