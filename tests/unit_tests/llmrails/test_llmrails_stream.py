"""LLMRails.stream_async, with the internal model and with an external token generator."""

from __future__ import annotations

import asyncio
import json
import re
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

import langchain_guardrails
from langchain_guardrails import LLMRails

from .rails_configs import CAPITAL, config, user

SECRET_TOKENS = ["The ", "password ", "is ", "swordfish ", *[f"w{i} " for i in range(40)]]


def error(rail: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Blocked by {rail} rails.",
            "type": "guardrails_violation",
            "param": rail,
            "code": "content_blocked",
        }
    }


class Tokens:
    """An async generator of tokens that records what it produced and whether it was closed."""

    def __init__(self, tokens: list[str], delay: float = 0.0) -> None:
        self.tokens, self.delay = tokens, delay
        self.produced = 0
        self.closed = False
        self.gen = self._run()

    async def _run(self) -> AsyncIterator[str]:
        try:
            for token in self.tokens:
                if self.delay:
                    await asyncio.sleep(self.delay)
                self.produced += 1
                yield token
        finally:
            self.closed = True


async def collect(stream: AsyncIterator[str]) -> list[str]:
    return await asyncio.wait_for(_collect(stream), timeout=10)


async def _collect(stream: AsyncIterator[str]) -> list[str]:
    return [chunk async for chunk in stream]


async def test_stream_async_yields_str_chunks() -> None:
    chunks = await collect(LLMRails(config()).stream_async(messages=user("capital?")))
    assert chunks == ["The ", "capital ", "of ", "France ", "is ", "Paris."]
    assert "".join(chunks) == CAPITAL


async def test_block_ends_with_the_nemo_error_object() -> None:
    rails = LLMRails(config(stream_first=False))
    chunks = await collect(rails.stream_async(messages=user("a secret")))
    # Window 0 ("The password is ") passed: its first two units are released; window 1 blocks.
    # After released text comes rails.refusal.separator, as on the gateway (issue 20 item 13).
    assert chunks[:-1] == ["The ", "password ", "\n\n"]
    assert json.loads(chunks[-1]) == error("regex check output")
    chunks = await collect(rails.stream_async(prompt="how to hack"))
    assert [json.loads(c) for c in chunks] == [error("regex check input")]


async def test_generator_output_block_mid_stream_closes_the_generator() -> None:
    tokens = Tokens(SECRET_TOKENS, delay=0.001)
    rails = LLMRails(config(models=False))
    seen: list[tuple[str, bool]] = []
    async for chunk in rails.stream_async(messages=user("hi"), generator=tokens.gen):
        seen.append((chunk, tokens.closed))
    assert json.loads(seen[-1][0]) == error("regex check output")
    assert seen[-1][1] is True  # closed before the error chunk was delivered
    assert tokens.produced < len(SECRET_TOKENS)
    assert "".join(c for c, _ in seen[:-1]).startswith("The password is swordfish")  # stream_first


async def test_generator_input_block_closes_it_unread() -> None:
    tokens = Tokens(["never ", "read"])
    chunks = await collect(
        LLMRails(config()).stream_async(messages=user("hack"), generator=tokens.gen)
    )
    assert [json.loads(c) for c in chunks] == [error("regex check input")]
    assert tokens.produced == 0
    assert tokens.gen.ag_frame is None  # closed


@pytest.mark.parametrize("stream_first", [False, True])
async def test_generator_tokens_pass_through_window_rails(stream_first: bool) -> None:
    tokens = Tokens(["Safe ", "words ", "only ", "here ", "today."])
    rails = LLMRails(config(stream_first=stream_first))
    # Iterated in this task (not under wait_for, which runs it in a child task) so that
    # explain() here sees the call.
    chunks = [c async for c in rails.stream_async(messages=user("hi"), generator=tokens.gen)]
    assert chunks == ["Safe ", "words ", "only ", "here ", "today."]
    assert tokens.closed
    windows = [r.window for r in rails.explain().activated_rails if r.stage == "output"]
    assert windows == [0, 1]
    assert rails.explain().llm_calls == []  # the generator is not an LLM call


async def test_generator_without_streaming_output_rails_is_checked_whole_before_release() -> None:
    rails = LLMRails(config(output_streaming=False))
    ok = Tokens(["Safe ", "words ", "only."])
    produced_at_first_chunk = None
    chunks = []
    async for chunk in rails.stream_async(messages=user("hi"), generator=ok.gen):
        if produced_at_first_chunk is None:
            produced_at_first_chunk = ok.produced
        chunks.append(chunk)
    assert chunks == ["Safe ", "words ", "only."]
    assert produced_at_first_chunk == 3  # nothing released before the whole text passed

    bad = Tokens(["The ", "password ", "is ", "swordfish."])
    chunks = await collect(rails.stream_async(messages=user("hi"), generator=bad.gen))
    assert [json.loads(c) for c in chunks] == [error("regex check output")]


async def test_generator_without_rails_streams_as_is_and_consumer_stop_closes_it() -> None:
    rails = LLMRails(config(output_flows=[]))
    tokens = Tokens(["a ", "b ", "c ", "d "])
    stream = rails.stream_async(messages=user("hi"), generator=tokens.gen)
    assert [await anext(stream), await anext(stream)] == ["a ", "b "]
    await stream.aclose()
    assert tokens.closed and tokens.produced == 2


async def test_bad_generators_are_clear_errors() -> None:
    rails = LLMRails(config())
    with pytest.raises(
        TypeError,
        match=r"^stream_async\(generator=\.\.\.\) takes an async iterator of str; got list$",
    ):
        await collect(rails.stream_async(messages=user("hi"), generator=["a"]))  # type: ignore[arg-type]

    async def numbers() -> AsyncIterator[Any]:
        yield 1

    with pytest.raises(
        TypeError, match=r"^stream_async\(generator=\.\.\.\) yielded int; expected str$"
    ):
        await collect(rails.stream_async(messages=user("hi"), generator=numbers()))


async def test_streaming_flag_is_honoured_and_its_absence_warns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert await collect(LLMRails(config(streaming=True)).stream_async(prompt="capital?"))
    message = (
        "LLMRails.stream_async: `streaming: True` is not set in config.yml; streaming anyway "
        "(set it to silence this warning)"
    )
    with pytest.warns(UserWarning, match=f"^{re.escape(message)}$"):
        chunks = await collect(LLMRails(config(streaming=False)).stream_async(prompt="capital?"))
    assert "".join(chunks) == CAPITAL


def test_public_names() -> None:
    assert {"LLMRails", "GuardrailsCallbackHandler"} <= set(langchain_guardrails.__all__)
    from langchain_guardrails.streaming.handler import StreamingHandler

    assert StreamingHandler.__module__ == "langchain_guardrails.streaming.handler"
