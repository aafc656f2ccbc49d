"""With no callback handler, the wrapped model is streamed through its ``_astream`` (its
``astream`` keeps every chunk for its own ``on_llm_end``, so memory grows with the answer)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.rate_limiters import InMemoryRateLimiter

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.llm.direct_stream import direct_astream
from langchain_guardrails.testing import FakeStreamingChatModel

from .configs import rails_config

CHUNKS = ["The ", "capital ", "is ", "Paris."]
HI = [HumanMessage("hi")]


def fake(**kwargs: Any) -> FakeStreamingChatModel:
    return FakeStreamingChatModel(chunks=CHUNKS, stream_usage=True, **kwargs)


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(fake().with_config(callbacks=[BaseCallbackHandler()]), id="binding config"),
        pytest.param(fake(callbacks=[BaseCallbackHandler()]), id="model callbacks"),
        pytest.param(fake(rate_limiter=InMemoryRateLimiter()), id="rate limiter"),
        pytest.param(fake(output_version="v1"), id="output_version v1"),
        pytest.param(fake(disable_streaming=True), id="streaming disabled"),
        pytest.param(
            Guardrails(llm=fake(), config=RailsConfig.from_content(config={})), id="own astream"
        ),
    ],
)
def test_unusual_models_keep_the_regular_path(model: Any) -> None:
    assert direct_astream(model, HI, {}) is None


async def test_direct_chunks_match_astream_and_bound_kwargs_apply() -> None:
    model = fake()
    direct = direct_astream(model.bind(stop=["x"]), HI, {"ls_structured_output_format": {}})
    assert direct is not None
    via_direct = [c async for c in direct]
    via_astream = [c async for c in model.astream(HI)]
    strip = ("id",)
    assert [c.model_dump(exclude=set(strip)) for c in via_direct] == [
        c.model_dump(exclude=set(strip)) for c in via_astream
    ]
    assert via_direct[-1].chunk_position == "last"
    assert via_direct[-2].usage_metadata == {
        "input_tokens": 1,
        "output_tokens": 4,
        "total_tokens": 5,
    }


@pytest.mark.parametrize("flows", [[], ["regex check output"]])
async def test_no_handler_skips_astream_and_keeps_usage(
    monkeypatch: pytest.MonkeyPatch, flows: list[str]
) -> None:
    calls: list[str] = []
    regular = BaseChatModel.astream

    def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(self).__name__)
        return regular(self, *args, **kwargs)

    monkeypatch.setattr(BaseChatModel, "astream", watched)
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=CHUNKS), config=rails_config(flows_out=flows)
    )
    chunks = [c async for c in guarded.astream("hi")]
    assert "".join(c.text for c in chunks) == "The capital is Paris."
    assert chunks[-1].usage_metadata == {"input_tokens": 1, "output_tokens": 4, "total_tokens": 5}
    assert calls == []  # Guardrails.astream is its own; the wrapped model's was never used
    # With a handler the model's run is reported too (start, end with usage), still without
    # astream: no callback per token for the wrapped model (its tokens are not answer tokens).
    from langchain_core.callbacks import UsageMetadataCallbackHandler

    usage = UsageMetadataCallbackHandler()
    listened = [c async for c in guarded.astream("hi", {"callbacks": [usage]})]
    assert "".join(c.text for c in listened) == "The capital is Paris."
    assert calls == []
    assert usage.usage_metadata == {
        "fake-streaming-model": {"input_tokens": 1, "output_tokens": 4, "total_tokens": 5}
    }
