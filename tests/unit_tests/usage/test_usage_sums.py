"""Usage of the main model and of every LLM-based rail call, summed by standard handlers."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import UsageMetadataCallbackHandler, get_usage_metadata_callback
from langchain_core.messages import HumanMessage

from langchain_guardrails.observability.callback_handler import (
    GuardrailsCallbackHandler,
    get_guardrails_callback,
)
from langchain_guardrails.observability.usage import estimate_prompt_tokens
from langchain_guardrails.testing import FakeStreamingChatModel

from .rails_setup import BLOCKED_TEXT, guarded


def usage(inputs: int, outputs: int) -> dict[str, int]:
    return {"input_tokens": inputs, "output_tokens": outputs, "total_tokens": inputs + outputs}


# "hello there": main input 2 words. Guard calls ("check: <text>", reply "ok"): input rail
# 3 words, window 0 "one two three " 4 words, window 1 "three four five six " 5 words.
MAIN = usage(2, 6)
GUARD = usage(3 + 4 + 5, 3)
# Blocked at window 1 (units 2-5), after the units the model had produced by then: at least 7,
# at most one window more. The prompt estimate is ceil(len("hello there") / 4) = 3.


def received(g: Any) -> int:
    """The units the (fake) model produced in its last call: what a blocked call paid for."""
    produced: int = g.llm.stats.last_call_chunks
    assert 7 <= produced <= 9
    return produced


BLOCKED_GUARD = usage(3 + 4 + 5, 3)


@pytest.mark.parametrize("stream_first", [False, True])
async def test_streamed_call_reports_main_and_rail_usage(stream_first: bool) -> None:
    with get_usage_metadata_callback() as cb:
        chunks = [c async for c in guarded(stream_first=stream_first).astream("hello there")]
    assert "".join(c.text for c in chunks) == "one two three four five six"
    assert chunks[-1].usage_metadata == MAIN
    assert cb.usage_metadata == {"main-model": MAIN, "guard-model": GUARD}


@pytest.mark.parametrize("stream_first", [False, True])
async def test_blocked_stream_reports_prompt_and_received_units(stream_first: bool) -> None:
    handler = UsageMetadataCallbackHandler()
    g = guarded(BLOCKED_TEXT, stream_first=stream_first)
    chunks = [c async for c in g.astream("hello there", config={"callbacks": [handler]})]
    assert chunks[-1].response_metadata["guardrails"]["blocked"] is True
    blocked_main = usage(3, received(g))
    assert chunks[-1].usage_metadata == blocked_main
    assert handler.usage_metadata == {"main-model": blocked_main, "guard-model": BLOCKED_GUARD}


async def test_invoke_ainvoke_batch_and_abatch_are_summed() -> None:
    g = guarded()
    with get_usage_metadata_callback() as cb:
        assert g.invoke("hello there").usage_metadata == MAIN
        assert (await g.ainvoke("hello there")).usage_metadata == MAIN
        assert [m.usage_metadata for m in g.batch(["hello there", "hello there"])] == [MAIN, MAIN]
        assert [m.usage_metadata for m in await g.abatch(["hello there"] * 2)] == [MAIN, MAIN]
    assert cb.usage_metadata == {
        "main-model": usage(2 * 6, 6 * 6),
        "guard-model": usage(12 * 6, 3 * 6),
    }


async def test_batch_with_a_blocked_item_sums_both() -> None:
    passing, blocking = guarded(), guarded(BLOCKED_TEXT)
    handler = UsageMetadataCallbackHandler()
    config: Any = {"callbacks": [handler]}
    results = passing.batch(["hello there"], config=config) + blocking.batch(
        ["hello there"], config=config
    )
    assert [m.response_metadata["guardrails"]["blocked"] for m in results] == [False, True]
    assert handler.usage_metadata["guard-model"] == usage(12 + 12, 3 + 3)
    # Sync calls pull the model in a worker thread: the unit a thread was producing when the
    # block landed may be produced without being received.
    produced = received(blocking)
    assert handler.usage_metadata["main-model"] in (
        usage(2 + 3, 6 + produced),
        usage(2 + 3, 6 + produced - 1),
    )


async def test_guardrails_handler_summarises_usage_calls_and_rail_latency() -> None:
    g = guarded(BLOCKED_TEXT)
    with get_guardrails_callback() as handler:
        [c async for c in g.astream("hello there")]
    summary = handler.summary()
    units = received(g)
    assert summary.usage == {"main-model": usage(3, units), "guard-model": BLOCKED_GUARD}
    assert summary.total_usage == usage(3 + 12, units + 3)
    assert [(c.task, c.rail, c.llm_model_name) for c in summary.llm_calls] == [
        ("llm_check", "llm check", "guard-model"),
        ("general", None, "main-model"),
        ("llm_check", "llm check", "guard-model"),
        ("llm_check", "llm check", "guard-model"),
    ]
    main = summary.llm_calls[1]
    assert (main.prompt_tokens, main.completion_tokens, main.total_tokens) == (3, units, 3 + units)
    assert main.stopped is True
    assert [(r.rail, r.stage, r.window, r.decision, r.stop) for r in summary.rails] == [
        ("llm check", "input", None, "passed", False),
        ("llm check", "output", 0, "passed", False),
        ("llm check", "output", 1, "blocked", True),
    ]
    assert summary.blocked == summary.rails[-1]
    assert summary.windows == 2
    latency = summary.rail_latency["llm check"]
    assert latency.calls == 3
    assert latency.total == pytest.approx(sum(r.duration for r in summary.rails))
    assert latency.max == max(r.duration for r in summary.rails)
    stats = summary.stats()
    assert (stats.llm_calls_count, stats.llm_calls_total_tokens) == (4, 15 + 3 + units)


async def test_handler_passed_in_config_sees_the_same_as_the_context_manager() -> None:
    handler = GuardrailsCallbackHandler()
    await guarded().ainvoke("hello there", config={"callbacks": [handler]})
    assert handler.usage_metadata == {"main-model": MAIN, "guard-model": GUARD}
    assert handler.summary().blocked is None


def test_prompt_estimate_uses_the_models_own_tokenizer_when_set() -> None:
    messages = [HumanMessage("hello there"), HumanMessage("abc")]
    assert estimate_prompt_tokens(FakeStreamingChatModel(), messages) == 3 + 1
    by_char = FakeStreamingChatModel(custom_get_token_ids=lambda text: list(range(len(text))))
    assert estimate_prompt_tokens(by_char, messages) == 11 + 3

    def broken(text: str) -> list[int]:
        raise RuntimeError("no tokenizer")

    assert (
        estimate_prompt_tokens(FakeStreamingChatModel(custom_get_token_ids=broken), messages) == 4
    )


async def test_blocked_stream_uses_the_provider_input_tokens_when_reported_first() -> None:
    # Anthropic-style: input tokens arrive on the first chunk, so no estimate is needed.
    model = FakeStreamingChatModel(
        text=BLOCKED_TEXT, input_usage_first=True, model_name="main-model"
    )
    g = guarded()
    g2 = type(g)(llm=model, config=g.config, actions=g.actions)
    with get_usage_metadata_callback() as cb:
        chunks = [c async for c in g2.astream("hello there")]
    assert chunks[-1].usage_metadata == usage(2, received(g2))
    assert cb.usage_metadata["main-model"] == usage(2, received(g2))
