"""Sync ``invoke`` / ``stream`` of a blocked call return only after the usage of the stopped
model run reached the handlers (a handler read right after the call sees it)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.callbacks import UsageMetadataCallbackHandler, get_usage_metadata_callback
from typing_extensions import override

from langchain_guardrails import Guardrails, RailsConfig, action
from langchain_guardrails.llm import register_engine
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


# -- issue 21 item 11: get_usage_metadata_callback, a block while a model step is in flight --


@action(name="slow secret check")
async def slow_secret_check(text: str) -> bool:
    """Decides after 30 ms, while the model (100 ms a chunk) is inside its next step."""
    await asyncio.sleep(0.03)
    return "secret" not in text


@action(name="guard check")
async def guard_check(text: str, llms: Any) -> bool:
    """An LLM rail: its call is still running in a worker thread when a sibling blocks."""
    await llms["guard"].ainvoke(f"check: {text}")
    return True


@action(name="instant block")
def instant_block(text: str) -> bool:
    return False


class SlowGuard(FakeStreamingChatModel):
    """A judge whose (sync) answer takes 150 ms: its usage arrives after a sibling blocked."""

    @override
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.15)
        return super()._generate(*args, **kwargs)


register_engine("slow_guard", lambda config: SlowGuard(text="fine", model_name="guard-model"))

HOLD_BACK = RailsConfig.from_content(
    config={
        "rails": {
            "output": {
                "flows": ["slow secret check"],
                "streaming": {
                    "enabled": True,
                    "chunk_size": 2,
                    "context_size": 1,
                    "stream_first": False,
                },
            }
        }
    }
)
SIBLINGS = RailsConfig.from_content(
    config={
        "models": [{"type": "guard", "engine": "slow_guard", "model": "guard"}],
        "rails": {"input": {"flows": ["guard check", "instant block"]}},
    }
)


def _call(guarded: Guardrails, how: str) -> Any:
    return guarded.invoke("hi") if how == "invoke" else list(guarded.stream("hi"))[-1]


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_main_model_usage_is_there_when_a_hold_back_block_returns(how: str) -> None:
    """Before: the model step in flight at the block kept running in its thread, the stream
    was never closed, and its usage reached the handler later (5 of 5 tries)."""
    for _ in range(3):
        model = FakeStreamingChatModel(
            chunks=["a ", "secret ", "c ", "d ", "e ", "f "], delay=0.1, model_name="m"
        )
        guarded = Guardrails(llm=model, config=HOLD_BACK, actions=[slow_secret_check])
        with get_usage_metadata_callback() as cb:
            last = _call(guarded, how)
            seen = dict(cb.usage_metadata)
        assert last.response_metadata["guardrails"]["rail"] == "slow secret check"
        assert seen == {"m": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}
        assert seen == {"m": last.usage_metadata}


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_rail_llm_usage_is_there_when_a_sibling_block_returns(how: str) -> None:
    """The judge's call was cancelled by the sibling's block but ran on in its thread."""
    model = FakeStreamingChatModel(text="never", model_name="m")
    guarded = Guardrails(llm=model, config=SIBLINGS, actions=[guard_check, instant_block])
    for _ in range(3):
        with get_usage_metadata_callback() as cb:
            last = _call(guarded, how)
            seen = dict(cb.usage_metadata)
        assert last.response_metadata["guardrails"]["rail"] == "instant block"
        assert seen == {"guard-model": {"input_tokens": 2, "output_tokens": 1, "total_tokens": 3}}
