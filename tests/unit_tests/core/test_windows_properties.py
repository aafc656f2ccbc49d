"""Property tests of the window semantics (DESIGN.md, "Windows: exact semantics")."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_guardrails import Guardrails, RailResult, RailsConfig, action
from langchain_guardrails.testing import FakeStreamingChatModel

PHRASE = "#FORBIDDEN!"
FILLER = st.text(alphabet="ab .,\n", min_size=1, max_size=4)


def window_starts(count: int, size: int, first: int | None = None) -> list[int]:
    """Where each window's new units start: window 1 has ``first`` new units (default C),
    each later window twice as many as the one before, up to C."""
    starts, start, new = [], 0, first or size
    while start < count:
        starts.append(start)
        start, new = start + new, min(2 * new, size)
    return starts


def expected_windows(
    units: list[str], size: int, context: int, first: int | None = None
) -> list[str]:
    """Reference: window k = the last K units before its new units (all of them while there
    are fewer than K) + its new units."""
    starts = [*window_starts(len(units), size, first), len(units)]
    return [
        "".join(units[max(0, start - context) : end]) for start, end in itertools.pairwise(starts)
    ]


def make_guard(
    chunks: list[str], size: int, context: int, stream_first: bool, first: int | None = None
) -> tuple[Guardrails, list[str]]:
    seen: list[str] = []

    @action(name="recorder", inline=True)
    def recorder(text: str) -> bool:
        seen.append(text)
        return PHRASE not in text

    config = RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": ["recorder"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": size,
                        "context_size": context,
                        "stream_first": stream_first,
                        "first_chunk_size": first,
                    },
                }
            }
        }
    )
    model = FakeStreamingChatModel(chunks=chunks)
    return Guardrails(llm=model, config=config, actions=[recorder]), seen


async def collect(guarded: Guardrails) -> list[Any]:
    return [chunk async for chunk in guarded.astream("go")]


def first_size(draw: st.DrawFn, size: int) -> int | None:
    """``first_chunk_size``: unset (windows of C) or 1..C (growing windows)."""
    return draw(st.none() | st.integers(min_value=1, max_value=size))


@st.composite
def stream_case(draw: st.DrawFn) -> tuple[list[str], int, int, bool, int | None]:
    units = draw(st.lists(FILLER, min_size=0, max_size=40))
    # Empty chunks (usage, markers) sprinkled between units: never counted, never dropped.
    chunks: list[str] = []
    for unit in units:
        if draw(st.booleans()) and draw(st.booleans()):
            chunks.append("")
        chunks.append(unit)
    size = draw(st.integers(min_value=1, max_value=8))
    context = draw(st.integers(min_value=0, max_value=size - 1))
    return chunks, size, context, draw(st.booleans()), first_size(draw, size)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream_case())
def test_output_equals_model_stream_and_every_unit_is_checked(
    case: tuple[list[str], int, int, bool, int | None],
) -> None:
    chunks, size, context, stream_first, first = case
    guarded, seen = make_guard(chunks, size, context, stream_first, first)
    out = asyncio.run(collect(guarded))
    raw = asyncio.run(_raw(guarded))
    released, final = out[:-1], out[-1]
    # Byte-exact and in order, empty chunks included.
    assert [c.content for c in released] == [c.content for c in raw]
    assert final.response_metadata["guardrails"] == {"blocked": False, "windows": len(seen)}
    units = [c for c in chunks if c]
    assert seen == expected_windows(units, size, context, first)


async def _raw(guarded: Guardrails) -> list[Any]:
    return [c async for c in guarded._model.astream("go")]


@st.composite
def blocked_case(draw: st.DrawFn) -> tuple[list[str], int, int, int, int | None]:
    size = draw(st.integers(min_value=2, max_value=8))
    context = draw(st.integers(min_value=1, max_value=size - 1))
    pieces = draw(st.integers(min_value=1, max_value=context + 1))
    cuts = sorted(
        draw(st.sets(st.integers(1, len(PHRASE) - 1), min_size=pieces - 1, max_size=pieces - 1))
    )
    bounds = [0, *cuts, len(PHRASE)]
    phrase_units = [PHRASE[a:b] for a, b in itertools.pairwise(bounds)]
    before = draw(st.lists(FILLER, max_size=30))
    after = draw(st.lists(FILLER, max_size=30))
    chunks = [*before, *phrase_units, *after]
    return chunks, size, context, len("".join(before)), first_size(draw, size)


def released_text(out: list[Any]) -> str:
    """The model text a blocked stream released, checking that the refusal follows it after
    ``rails.refusal.separator`` (and comes alone when nothing was released)."""
    *body, _ = out
    if any(c.text for c in body):
        assert body[-1].content == "\n\n"
        body = body[:-1]
        assert any(c.text for c in body)
    return "".join(c.content for c in body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocked_case())
def test_hold_back_never_delivers_any_part_of_a_blocked_phrase(
    case: tuple[list[str], int, int, int, int | None],
) -> None:
    chunks, size, context, phrase_start, first = case
    guarded, _ = make_guard(chunks, size, context, stream_first=False, first=first)
    out = asyncio.run(collect(guarded))
    released = released_text(out)
    assert len(released) <= phrase_start  # not even the first character of the phrase
    # Exactly what the semantics release: every unit before the blocked window's context.
    windows = expected_windows(chunks, size, context, first)
    blocked = next(i for i, w in enumerate(windows) if PHRASE in w)
    start = window_starts(len(chunks), size, first)[blocked]
    assert released == "".join(chunks[: max(0, start - context)])
    assert out[-1].response_metadata["guardrails"]["blocked"] is True
    assert out[-1].content == "I'm sorry, I can't respond to that."


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocked_case())
def test_stream_first_releases_a_prefix_then_refuses(
    case: tuple[list[str], int, int, int, int | None],
) -> None:
    chunks, size, context, _, first = case
    guarded, _ = make_guard(chunks, size, context, stream_first=True, first=first)
    out = asyncio.run(collect(guarded))
    released = released_text(out)
    assert "".join(chunks).startswith(released)
    assert out[-1].response_metadata["guardrails"]["blocked"] is True


@st.composite
def masking_case(draw: st.DrawFn) -> tuple[list[str], int, int, int | None, str]:
    size = draw(st.integers(min_value=2, max_value=8))
    context = draw(st.integers(min_value=1, max_value=size - 1))
    chunks: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        chunks += draw(st.lists(FILLER, max_size=8))
        value = "code-" + draw(st.text(alphabet="0123456789", min_size=1, max_size=6))
        pieces = draw(st.integers(min_value=1, max_value=min(context + 1, len(value))))
        cuts = sorted(
            draw(st.sets(st.integers(1, len(value) - 1), min_size=pieces - 1, max_size=pieces - 1))
        )
        bounds = [0, *cuts, len(value)]
        chunks += [value[a:b] for a, b in itertools.pairwise(bounds)]
        chunks.append(" ")
    return chunks, size, context, first_size(draw, size), draw(st.sampled_from(MASKERS))


CODE = re.compile(r"code-\d+")
MASKERS = ("plain rewrite", "rewrite with spans", "mask sensitive data on output")
"""A custom rail without spans, one with spans, and the built-in masking rail (which fills
its spans) with a recognizer for the codes."""


@action(name="plain rewrite", rewrites=True, inline=True)
def plain_rewrite(text: str) -> RailResult:
    return RailResult(allowed=True, text=CODE.sub("<CODE>", text))


@action(name="rewrite with spans", rewrites=True, inline=True)
def rewrite_with_spans(text: str) -> RailResult:
    spans = [(m.start(), m.end(), "<CODE>") for m in CODE.finditer(text)]
    return RailResult(allowed=True, text=CODE.sub("<CODE>", text), spans=spans)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masking_case())
def test_masking_is_exact_wherever_chunk_boundaries_fall(
    case: tuple[list[str], int, int, int | None, str],
) -> None:
    chunks, size, context, first, masker = case
    config = RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": [masker],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": size,
                        "context_size": context,
                        "stream_first": False,
                        "first_chunk_size": first,
                    },
                },
                "config": {
                    "sensitive_data_detection": {
                        "recognizers": [
                            {"supported_entity": "CODE", "patterns": [{"regex": r"code-\d+"}]}
                        ],
                        "output": {"entities": ["CODE"]},
                    }
                },
            }
        }
    )
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=chunks),
        config=config,
        actions=[plain_rewrite, rewrite_with_spans],
    )
    out = asyncio.run(collect(guarded))
    assert "".join(c.content for c in out) == CODE.sub("<CODE>", "".join(chunks))
