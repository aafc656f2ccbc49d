"""Issue 14 item 4: the fast-path client, and which configs take it."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.server.upstream.client import (
    OpenAICompatibleChat,
    UpstreamError,
    fast_upstream_model,
)
from langchain_guardrails.testing import FakeOpenAIServer, FakeReply


def config(engine: str, **parameters: Any) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "models": [{"type": "main", "engine": engine, "model": "m", "parameters": parameters}]
        }
    )


def test_plain_openai_configs_take_the_fast_path() -> None:
    model = fast_upstream_model(
        config("openai", base_url="http://127.0.0.1:9/v1", api_key="k", temperature=0.5)
    )
    assert isinstance(model, OpenAICompatibleChat)
    assert (model.model_name, model.base_url, model.params) == (
        "m",
        "http://127.0.0.1:9/v1",
        {"temperature": 0.5},
    )


@pytest.mark.parametrize(
    "cfg",
    [
        config("openai", base_url="http://127.0.0.1:9/v1", api_key="k", use_responses_api=True),
        config("openai", base_url="http://127.0.0.1:9/v1", api_key="k", reasoning_effort="low"),
        config("vllm_openai", api_key="k"),
        config("scripted"),
    ],
)
def test_other_configs_keep_their_model(cfg: RailsConfig) -> None:
    assert fast_upstream_model(cfg) is None


async def test_stream_and_invoke_against_an_upstream() -> None:
    turn = FakeReply(
        reasoning="hmm ", text="Hi there", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}]
    )
    with FakeOpenAIServer(default=turn, prompt_tokens=3) as upstream:
        model = OpenAICompatibleChat(model_name="m", base_url=upstream.base_url, api_key="k")
        chunks = [c async for c in model.astream([HumanMessage("hi")], max_tokens=5)]
        message = await model.ainvoke("hi")
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.content == "Hi there"
    assert merged.additional_kwargs == {"reasoning_content": "hmm "}
    assert merged.tool_calls == [{"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"}]
    assert merged.usage_metadata == {"input_tokens": 3, "output_tokens": 3, "total_tokens": 6}
    assert merged.response_metadata["finish_reason"] == "tool_calls"
    sent = upstream.chat_requests()[0]
    assert (sent["max_tokens"], sent["stream"], sent["stream_options"]) == (
        5,
        True,
        {"include_usage": True},
    )
    assert isinstance(message, AIMessage) and message.content == "Hi there"


async def test_an_unreachable_upstream_is_a_connect_error() -> None:
    model = OpenAICompatibleChat(model_name="m", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(Exception) as raised:
        await model.ainvoke("hi")
    assert type(raised.value).__name__ == "ConnectError"


def test_http_errors_name_status_and_code_only() -> None:
    from langchain_guardrails.server.upstream.client import _error

    error = _error(429, b'{"error": {"message": "secret prompt text", "code": "rate_limited"}}')
    assert isinstance(error, UpstreamError)
    assert str(error) == "upstream answered HTTP 429 (rate_limited)"


def test_connection_reuse_is_on_by_default_and_configurable() -> None:
    base = {"base_url": "http://127.0.0.1:9/v1", "api_key": "k"}
    default = fast_upstream_model(config("openai", **base))
    off = fast_upstream_model(config("openai", **base, keepalive_connections=0))
    assert default is not None and default.keepalive_connections == 32
    assert off is not None and off.keepalive_connections == 0
