"""The answer and the reasoning are two checked texts, each with its own windows (issue 20,
items 4 and 5), and unit text is checked in its canonical form.

``GUARDRAILS_SWEEP=3000 pytest tests/unit_tests/channels/test_reasoning_channels.py`` runs the
long sweep of the interleaving property; the suite runs a short one.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessageChunk

from langchain_guardrails import Guardrails, RailResult, RailsConfig, action
from langchain_guardrails.streaming.reasoning import reasoning_text

from .helpers import SECRET, EverythingRecorder, config
from .test_containment_properties import ChunkScript, observe, split

PHRASE = "password is hunter2"  # 19 characters: 19 one-character units
REFUSAL = "I'm sorry, I can't respond to that."
EXAMPLES = int(os.environ.get("GUARDRAILS_SWEEP", "60"))


@action(name="no phrase", inline=True)
def no_phrase(text: str) -> bool:
    return PHRASE not in text and "%QZJXQ%" not in text


def phrase_guard(script: list[AIMessageChunk], size: int, context: int, **extra: Any) -> Guardrails:
    streaming = {"enabled": True, "chunk_size": size, "context_size": context}
    streaming.update(extra)
    settings_ = {"rails": {"output": {"flows": ["no phrase"], "streaming": streaming}}}
    return Guardrails(
        llm=ChunkScript(script=script),
        config=RailsConfig.from_content(config=settings_),
        actions=[no_phrase],
    )


def with_thought(text: str, thought: str, shape: str) -> AIMessageChunk:
    """A chunk with answer ``text`` and reasoning ``thought`` in the given reasoning shape."""
    if shape == "kwarg":
        return AIMessageChunk(content=text, additional_kwargs={"reasoning_content": thought})
    key = "thinking" if shape == "thinking" else "reasoning"
    blocks: list[Any] = [{"type": key, key: thought}] if thought else []
    if text:
        blocks.append({"type": "text", "text": text})
    return AIMessageChunk(content=blocks)


def released(chunks: list[Any]) -> list[Any]:
    """The chunks before the refusal, without the separator chunk a block puts before it."""
    body = chunks[:-1]
    if body and body[-1].content == "\n\n" and not body[-1].additional_kwargs:
        body = body[:-1]
    return body


def answer_of(chunks: list[Any]) -> str:
    return "".join(c.text for c in released(chunks))


def thoughts_of(chunks: list[Any]) -> str:
    parts = []
    for chunk in released(chunks):
        if isinstance(chunk.content, list):
            for block in chunk.content:
                key = block.get("type")
                if key in ("thinking", "reasoning"):
                    parts.append(block[key])
        parts.append(chunk.additional_kwargs.get("reasoning_content", ""))
    return "".join(parts)


FILLER = [f"w{i} " for i in range(50)]


@pytest.mark.parametrize("shape", ["kwarg", "thinking", "reasoning"])
async def test_reasoning_in_every_chunk_no_longer_splits_the_answers_blocked_phrase(
    shape: str,
) -> None:
    # C=40, K=30; a 19-unit phrase in the answer, one reasoning character on every chunk. The
    # reasoning used to be glued into each unit's text ("rprarsrs..."), so no window held the
    # phrase and the whole answer was released.
    units = [*FILLER, *PHRASE, " ok"]
    script = [with_thought(unit, "r", shape) for unit in units]
    guarded = phrase_guard(script, 40, 30, stream_first=False)
    chunks = [c async for c in guarded.astream("go")]
    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["blocked"], guard["rail"]) == (True, "no phrase")
    # Window 0 (answer units 0-39) passed, its last 30 units wait as context; the answer's
    # window 1 (units 10-70) is blocked. Released: the first 10 chunks, both channels.
    assert answer_of(chunks) == "".join(FILLER[:10])
    assert thoughts_of(chunks) == "r" * 10
    assert chunks[-1].content == REFUSAL


@pytest.mark.parametrize("shape", ["kwarg", "thinking", "reasoning"])
async def test_answer_in_every_chunk_no_longer_splits_the_reasonings_blocked_phrase(
    shape: str,
) -> None:
    thoughts = [*FILLER, *PHRASE, " ok"]
    script = [with_thought("a", thought, shape) for thought in thoughts]
    chunks = [c async for c in phrase_guard(script, 40, 30, stream_first=False).astream("go")]
    assert chunks[-1].response_metadata["guardrails"]["blocked"] is True
    assert thoughts_of(chunks) == "".join(FILLER[:10])
    assert answer_of(chunks) == "a" * 10
    assert "hunter" not in repr(chunks)


@pytest.mark.parametrize("shape", ["kwarg", "thinking"])
async def test_clean_interleaved_channels_are_released_whole_and_in_stream_order(
    shape: str,
) -> None:
    script = [with_thought(f"a{i} ", f"t{i} " if i % 3 else "", shape) for i in range(25)]
    chunks = [c async for c in phrase_guard(script, 4, 2, stream_first=False).astream("go")]
    # Answer: 6 full windows of 4 units and a last one of 1; reasoning (no text on every third
    # chunk): 6 partial windows, each closed with the answer's.
    assert chunks[-1].response_metadata["guardrails"] == {"blocked": False, "windows": 13}
    # Every chunk as the model sent it, in order (then the model's empty end chunks, and
    # the final chunk).
    assert [(c.content, c.additional_kwargs) for c in chunks[: len(script)]] == [
        (c.content, c.additional_kwargs) for c in script
    ]
    assert [c.text for c in chunks[len(script) :]] == ["", "", ""]


async def test_stream_first_releases_interleaved_chunks_on_arrival_and_stops_at_the_block() -> None:
    units = [*FILLER, *PHRASE, *FILLER]
    script = [with_thought(unit, "r", "kwarg") for unit in units]
    chunks = [c async for c in phrase_guard(script, 40, 30, stream_first=True).astream("go")]
    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["blocked"], guard["window"]) == (True, 2)  # the answer's window 1
    # Released on arrival (the blocked window is settled when the stream ends), each chunk as
    # sent; then the refusal.
    assert [c.content for c in chunks[: len(units)]] == units
    assert thoughts_of(chunks) == "r" * len(units)
    assert chunks[-1].content.endswith(REFUSAL)


@pytest.mark.parametrize(
    "value",
    [
        {"text": f"the admin password is {SECRET}"},
        [{"text": "the admin password "}, f"is {SECRET}"],
        [{"type": "summary_text", "text": f"is {SECRET}"}],
        {"summary": [{"text": f"{SECRET}!"}]},
    ],
)
async def test_non_string_reasoning_content_is_checked(value: Any) -> None:
    script = [
        AIMessageChunk(content="", additional_kwargs={"reasoning_content": value}),
        AIMessageChunk(content="No."),
    ]
    guarded = Guardrails(llm=ChunkScript(script=script), config=config(stream_first=False))
    recorder = EverythingRecorder()
    chunks = [c async for c in guarded.astream("pw?", config={"callbacks": [recorder]})]
    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["blocked"], guard["stage"]) == (True, "output")
    assert [c.content for c in chunks] == [REFUSAL]
    assert SECRET not in repr(chunks)
    assert SECRET not in repr(recorder.seen)


async def test_non_string_reasoning_content_is_stripped() -> None:
    script = [
        AIMessageChunk(content="", additional_kwargs={"reasoning_content": {"text": SECRET}}),
        AIMessageChunk(content="", additional_kwargs={"reasoning_content": [{"text": SECRET}]}),
        AIMessageChunk(content="No."),
    ]
    guarded = Guardrails(llm=ChunkScript(script=script), config=config(reasoning="strip"))
    chunks = [c async for c in guarded.astream("pw?")]
    assert answer_of(chunks) == "No."
    assert all("reasoning_content" not in c.additional_kwargs for c in chunks)
    assert SECRET not in repr(chunks)


async def test_clean_non_string_reasoning_content_is_released_as_sent() -> None:
    value = [{"text": "think "}, "twice"]
    script = [
        AIMessageChunk(content="", additional_kwargs={"reasoning_content": value}),
        AIMessageChunk(content="Paris."),
    ]
    chunks = [
        c async for c in Guardrails(llm=ChunkScript(script=script), config=config()).astream("?")
    ]
    assert chunks[0].additional_kwargs == {"reasoning_content": value}
    assert answer_of(chunks) == "Paris."


def test_reasoning_text_reads_every_shape_and_ignores_what_holds_no_text() -> None:
    assert reasoning_text("plain") == "plain"
    assert reasoning_text({"text": "a"}) == "a"
    assert reasoning_text({"thinking": "b"}) == "b"
    assert reasoning_text({"summary": [{"text": "c"}, {"text": "d"}]}) == "cd"
    assert reasoning_text([{"text": "e "}, "f", {"content": [{"text": "g"}]}]) == "e fg"
    # Values that hold no text have none to check (and none to leak).
    assert reasoning_text(42) == ""
    assert reasoning_text(None) == ""
    assert reasoning_text({"signature": "abc"}) == ""


@pytest.mark.parametrize(
    "units",
    [
        [
            "the pass",
            "word is ",
            "\uff48\uff55\uff4e",
            "\uff54\uff45\uff52\uff12",
            " ok",
        ],  # fullwidth letters
        ["the pass", "word is ", "hu\u200bn", "te\u200dr2", " ok"],  # zero-width characters
        [
            "the pass",
            "word is ",
            "\uff48\u200b\uff55\uff4e",
            "\u2060ter",
            "\u00b2",
            " ok",
        ],  # both; superscript 2
    ],
)
async def test_a_phrase_hidden_by_encoding_and_split_across_units_is_never_released(
    units: list[str],
) -> None:
    # C=6, K=5: the phrase (at most 5 units) is inside one window whatever the split.
    filler = ["a ", "b ", "c ", "d ", "e ", "f "]
    script = [AIMessageChunk(content=u) for u in [*filler, *units]]
    guarded = phrase_guard(script, 6, 5, stream_first=False)
    recorder = EverythingRecorder()
    chunks = [c async for c in guarded.astream("go", config={"callbacks": [recorder]})]
    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["blocked"], guard["window"]) == (True, 1)
    # Window 0 (the filler) passed; its last 5 units wait as context; window 1 blocks.
    assert answer_of(chunks) == "a "
    for unit in units[:-1]:
        assert unit not in repr(chunks)
        assert unit not in repr(recorder.seen)


async def test_masking_spans_line_up_with_canonical_window_text() -> None:
    @action(name="mask mail", rewrites=True)
    def mask_mail(text: str) -> RailResult | bool:
        at = text.find("ann@example.com")
        if at < 0:
            return True
        end = at + len("ann@example.com")
        masked = text[:at] + "<EMAIL>" + text[end:]
        return RailResult(allowed=True, text=masked, spans=[(at, end, "<EMAIL>")])

    units = ["Mail ", "\uff41\uff4e\uff4e\uff20ex", "ample.com ", "or ", "call ", "me ", "soon."]
    guarded = Guardrails(
        llm=ChunkScript(script=[AIMessageChunk(content=u) for u in units]),
        config=RailsConfig.from_content(
            config={
                "rails": {
                    "output": {
                        "flows": ["mask mail"],
                        "streaming": {
                            "enabled": True,
                            "chunk_size": 2,
                            "context_size": 1,
                            "stream_first": False,
                        },
                    }
                }
            }
        ),
        actions=[mask_mail],
    )
    chunks = [c async for c in guarded.astream("go")]
    assert answer_of(chunks) == "Mail <EMAIL> or call me soon."
    assert "\uff41\uff4e\uff4e" not in repr(chunks) and "ample" not in repr(chunks)


async def test_reasoning_rewrites_replace_the_reasoning_text_only() -> None:
    @action(name="mask secret", rewrites=True)
    def mask_secret(text: str) -> RailResult | bool:
        at = text.find(SECRET)
        if at < 0:
            return True
        return RailResult(
            allowed=True,
            text=text.replace(SECRET, "***"),
            spans=[(at, at + len(SECRET), "***")],
        )

    thoughts = ["the ", "code ", "is hun", "ter2 ", "so ", "no"]
    script = [with_thought(f"a{i} ", t, "kwarg") for i, t in enumerate(thoughts)]
    guarded = Guardrails(
        llm=ChunkScript(script=script),
        config=RailsConfig.from_content(
            config={
                "rails": {
                    "output": {
                        "flows": ["mask secret"],
                        "streaming": {
                            "enabled": True,
                            "chunk_size": 2,
                            "context_size": 1,
                            "stream_first": False,
                        },
                    }
                }
            }
        ),
        actions=[mask_secret],
    )
    chunks = [c async for c in guarded.astream("go")]
    assert thoughts_of(chunks) == "the code is *** so no"
    assert answer_of(chunks) == "a0 a1 a2 a3 a4 a5 "
    assert SECRET not in repr(chunks)
    assert "ter2" not in repr(chunks)


@st.composite
def interleaved(draw: st.DrawFn) -> tuple[list[AIMessageChunk], list[str], int, int]:
    """A blocked phrase of at most K+1 units in one channel, the other channel's text (and
    fillers of both) interleaved at random, in random reasoning shapes."""
    size = draw(st.integers(min_value=2, max_value=6))
    context = draw(st.integers(min_value=1, max_value=size - 1))
    target = draw(st.sampled_from(("answer", "reasoning")))
    pieces = split("%QZJXQ%", draw(st.integers(1, context + 1)), draw)
    filler = st.text(alphabet="ab .,\n", min_size=1, max_size=3)
    mine = [*draw(st.lists(filler, max_size=10)), *pieces, *draw(st.lists(filler, max_size=10))]
    # Half the cases put the other channel's text on every chunk (the leak of issue 20).
    dense = draw(st.booleans())
    other = draw(st.lists(filler, min_size=len(mine) if dense else 0, max_size=len(mine) + 6))
    chunks: list[AIMessageChunk] = []
    while mine or other:
        take_mine = bool(mine) and (dense or draw(st.booleans()))
        take_other = bool(other) and (dense or not take_mine or draw(st.booleans()))
        first = mine.pop(0) if take_mine else ""
        second = other.pop(0) if take_other else ""
        text, thought = (first, second) if target == "answer" else (second, first)
        chunks.append(
            with_thought(text, thought, draw(st.sampled_from(("kwarg", "thinking", "reasoning"))))
        )
    return chunks, pieces, size, context


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(interleaved())
def test_no_fragment_of_a_blocked_phrase_is_released_however_the_channels_interleave(
    case: tuple[list[AIMessageChunk], list[str], int, int],
) -> None:
    script, pieces, size, context = case
    guarded = phrase_guard(script, size, context, stream_first=False)
    out, seen = asyncio.run(observe(guarded))
    assert out[-1].response_metadata["guardrails"]["blocked"] is True
    released = repr(out)
    for piece in pieces:
        assert piece not in released
        assert piece not in seen
