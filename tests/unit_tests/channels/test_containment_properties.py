"""Containment on every channel, as properties: in hold-back mode no part of a blocked phrase
reaches the caller or any observer, whatever the chunk shapes and wherever the phrase is
(content, content blocks, reasoning blocks, ``reasoning_content``, logprobs, tool-call arguments).

``GUARDRAILS_SWEEP=3000 pytest tests/unit_tests/channels/test_containment_properties.py`` runs
the long sweep; the suite runs a short one.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tracers.context import collect_runs
from pydantic import Field

from langchain_guardrails import Guardrails, RailsConfig, action

from .helpers import EverythingRecorder

PHRASE = "%QZJXQ%"
FILLER = st.text(alphabet="ab .,\n", min_size=1, max_size=4)
EXAMPLES = int(os.environ.get("GUARDRAILS_SWEEP", "60"))
SHAPES = ("text", "blocks", "reasoning_block", "reasoning_kwarg", "logprobs")


class ChunkScript(BaseChatModel):
    """Streams the given chunks as they are."""

    script: list[AIMessageChunk] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "chunk-script"

    def _chunks(self) -> Iterator[ChatGenerationChunk]:
        for chunk in self.script:
            yield ChatGenerationChunk(message=chunk.model_copy(deep=True))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
                response_metadata={"model_name": "chunk-script", "finish_reason": "stop"},
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._chunks()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks():
            yield chunk

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=""))])


def shaped(text: str, shape: str) -> AIMessageChunk:
    if shape == "blocks":
        return AIMessageChunk(content=[{"type": "text", "text": text}])
    if shape == "reasoning_block":
        return AIMessageChunk(content=[{"type": "reasoning", "reasoning": text}])
    if shape == "reasoning_kwarg":
        return AIMessageChunk(content="", additional_kwargs={"reasoning_content": text})
    if shape == "logprobs":
        return AIMessageChunk(
            content=text, response_metadata={"logprobs": {"content": [{"token": text}]}}
        )
    return AIMessageChunk(content=text)


def split(text: str, pieces: int, draw: st.DrawFn) -> list[str]:
    # Pieces of at least two characters, so a piece cannot match refusal text by chance.
    points = list(range(2, len(text) - 1))
    count = min(pieces - 1, len(points) // 2)
    cuts: list[int] = []
    for point in sorted(draw(st.sets(st.sampled_from(points), max_size=count))):
        if not cuts or point - cuts[-1] >= 2:
            cuts.append(point)
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def leaking_stream(draw: st.DrawFn) -> tuple[list[AIMessageChunk], list[str], int, int, str]:
    size = draw(st.integers(min_value=2, max_value=7))
    context = draw(st.integers(min_value=1, max_value=size - 1))
    where = draw(st.sampled_from((*SHAPES, "tool_call")))
    pieces = split(PHRASE, draw(st.integers(1, context + 1)), draw)
    before = [shaped(t, draw(st.sampled_from(SHAPES))) for t in draw(st.lists(FILLER, max_size=12))]
    after = [shaped(t, draw(st.sampled_from(SHAPES))) for t in draw(st.lists(FILLER, max_size=12))]
    if where == "tool_call":
        args = '{"to": "' + PHRASE + '"}'
        cuts = sorted(draw(st.sets(st.integers(1, len(args) - 1), max_size=6)))
        fragments = [args[a:b] for a, b in itertools.pairwise([0, *cuts, len(args)])]
        middle = [
            AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": "send" if n == 0 else None,
                        "args": fragment,
                        "id": "c1" if n == 0 else None,
                        "index": 0,
                        "type": "tool_call_chunk",
                    }
                ],
            )
            for n, fragment in enumerate(fragments)
        ]
    else:
        middle = [shaped(p, where) for p in pieces]
    return [*before, *middle, *after], pieces, size, context, where


def guard(script: list[AIMessageChunk], size: int, context: int) -> Guardrails:
    @action(name="no phrase", inline=True)
    def no_phrase(text: str) -> bool:
        return PHRASE not in text

    config = RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": ["no phrase"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": size,
                        "context_size": context,
                        "stream_first": False,
                    },
                },
                "tool_output": {"flows": ["no phrase"]},
            }
        }
    )
    return Guardrails(llm=ChunkScript(script=script), config=config, actions=[no_phrase])


async def observe(guarded: Guardrails) -> tuple[list[Any], str]:
    recorder = EverythingRecorder()
    with collect_runs() as runs:
        events = [
            e
            async for e in guarded.astream_events(
                "go", config={"callbacks": [recorder]}, version="v2"
            )
        ]
    out = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    seen = repr(
        (
            recorder.seen,
            [{k: v for k, v in e.items() if k != "metadata"} for e in events],
            [(r.inputs, r.outputs, r.extra.get("invocation_params")) for r in runs.traced_runs],
        )
    )
    return out, seen


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(leaking_stream())
def test_no_part_of_a_blocked_phrase_reaches_anyone_on_any_channel(
    case: tuple[list[AIMessageChunk], list[str], int, int, str],
) -> None:
    script, pieces, size, context, _ = case
    out, seen = asyncio.run(observe(guard(script, size, context)))
    assert out[-1].response_metadata["guardrails"]["blocked"] is True
    released = repr(out)
    for piece in pieces:
        assert piece not in released
        assert piece not in seen
