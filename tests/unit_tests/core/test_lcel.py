"""`Guardrails` as an LCEL citizen: pipes, schemas, serialization, public names."""

from __future__ import annotations

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

import langchain_guardrails
from langchain_guardrails import Guardrails
from langchain_guardrails.testing import FakeStreamingChatModel
from tests.unit_tests.core.configs import rails_config

CONFIG = rails_config(size=4, context=1, stream_first=True)


async def test_prompt_guarded_parser_streams_incrementally() -> None:
    model = FakeStreamingChatModel(chunks=[f"w{i} " for i in range(40)], delay=0.002)
    chain = (
        ChatPromptTemplate.from_messages([("human", "{q}")])
        | Guardrails(llm=model, config=CONFIG)
        | StrOutputParser()
    )
    produced_at = []
    pieces = []
    async for piece in chain.astream({"q": "hi"}):
        produced_at.append(model.stats.last_call_chunks)
        pieces.append(piece)
    assert produced_at[0] <= 2  # the first piece arrived while the model had barely started
    assert "".join(pieces) == "".join(f"w{i} " for i in range(40))
    assert len([p for p in pieces if p]) == 40


def test_sync_chain_stream_and_invoke() -> None:
    model = FakeStreamingChatModel(chunks=["Hello ", "FORBIDDEN ", "world"])
    chain = (
        ChatPromptTemplate.from_messages([("human", "{q}")])
        | Guardrails(llm=model, config=CONFIG)
        | StrOutputParser()
    )
    assert chain.invoke({"q": "hi"}) == "I'm sorry, I can't respond to that."
    assert "".join(chain.stream({"q": "hi"})).endswith("I'm sorry, I can't respond to that.")


def test_schemas_come_from_the_wrapped_model() -> None:
    model = FakeStreamingChatModel(chunks=["a"])
    guarded = Guardrails(llm=model, config=CONFIG)
    assert (
        guarded.get_input_schema().model_json_schema()
        == model.get_input_schema().model_json_schema()
    )
    assert (
        guarded.get_output_schema().model_json_schema()
        == model.get_output_schema().model_json_schema()
    )
    assert guarded.InputType == model.InputType
    assert guarded.config_specs == model.config_specs


def test_serializable() -> None:
    guarded = Guardrails(llm=FakeStreamingChatModel(chunks=["a"]), config=CONFIG)
    assert Guardrails.is_lc_serializable()
    data = guarded.to_json()
    assert data["id"] == ["langchain_guardrails", "Guardrails"]
    assert data["type"] == "constructor"
    assert set(data["kwargs"]) == {"llm", "config"}


def test_with_config_and_bind_keep_guarding() -> None:
    model = FakeStreamingChatModel(chunks=["FORBIDDEN"])
    bound = Guardrails(llm=model, config=CONFIG).with_config(run_name="guard")
    assert bound.invoke("x").content == "I'm sorry, I can't respond to that."


def test_public_names() -> None:
    assert sorted(langchain_guardrails.__all__) == [
        "ConfigError",
        "Guardrails",
        "GuardrailsCallbackHandler",
        "GuardrailsViolation",
        "LLMRails",
        "MissingExtraError",
        "RailCheck",
        "RailResult",
        "RailsConfig",
        "action",
    ]
    for name in langchain_guardrails.__all__:
        assert getattr(langchain_guardrails, name) is not None
    from langchain_guardrails.llm.providers import huggingface
    from langchain_guardrails.server import create_app
    from langchain_guardrails.streaming.handler import StreamingHandler

    assert huggingface.HuggingFacePipelineCompatible and huggingface.AsyncTextIteratorStreamer
    assert callable(create_app) and StreamingHandler
