"""Sync ``invoke`` / ``stream`` of a blocked call return only after the usage of the stopped
model run reached the handlers (a handler read right after the call sees it)."""

from __future__ import annotations

import pytest
from langchain_core.callbacks import UsageMetadataCallbackHandler

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.testing import FakeStreamingChatModel

CONFIG = RailsConfig.from_content(
    config={
        "rails": {
            "output": {
                "flows": ["regex check output"],
                "streaming": {"enabled": True, "chunk_size": 2, "context_size": 1},
            },
            "config": {"regex_detection": {"output": {"patterns": ["secret"]}}},
        }
    }
)


@pytest.mark.parametrize("how", ["invoke", "stream", "batch"])
def test_usage_is_there_when_the_sync_call_returns(how: str) -> None:
    model = FakeStreamingChatModel(
        chunks=["a ", "b ", "secret ", "c ", "d ", "e ", "f "], delay=0.002, model_name="m"
    )
    guarded = Guardrails(llm=model, config=CONFIG)
    for _ in range(10):
        handler = UsageMetadataCallbackHandler()  # not run inline: its events hop threads
        config = {"callbacks": [handler]}
        if how == "invoke":
            last = guarded.invoke("hi", config=config)
        elif how == "stream":
            last = list(guarded.stream("hi", config=config))[-1]
        else:
            last = guarded.batch(["hi"], config=config)[0]
        assert last.response_metadata["guardrails"]["blocked"] is True
        assert handler.usage_metadata == {"m": last.usage_metadata}
