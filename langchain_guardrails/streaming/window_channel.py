"""One channel's windows inside a :class:`~langchain_guardrails.streaming.windows.WindowStream`.

A stream has up to two checked texts: the answer and, with ``rails.output.reasoning: check``,
the reasoning. Each is windowed on its own (units counted per channel, its own context), so
text of one channel never splits a phrase of the other. Both share the stream's held chunks:
an entry (a held chunk) is released only when no channel has an unchecked unit at or before
it, which keeps the hold-back guarantee per channel and the release in stream order.

Also here: how a rail's rewrite is cut at the carried units (:func:`span_cut`), and how one
channel's text is taken off a chunk or put on a new one when a rewrite replaces it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessageChunk

from langchain_guardrails.config.actions import Span, apply_spans
from langchain_guardrails.engine.rail_engine import Decision
from langchain_guardrails.streaming.chunks import channel_texts
from langchain_guardrails.streaming.reasoning import REASONING_KWARG, without_reasoning

ANSWER = "answer"
REASONING = "reasoning"


@dataclass(slots=True)
class Window:
    """One window of one channel, from its close until its check is settled."""

    index: int
    channel: WindowChannel
    future: asyncio.Future[Decision]
    text: str
    first_entry: int
    """Hold-back: the entry of the window's first unit (context included)."""
    end_entry: int
    """Absolute entry index just after this window's last unit (hold-back)."""
    release_to: int
    """Entry of the first unit carried into the next window (or ``end_entry``)."""
    tail_len: int
    """Characters of the context carried into the next window."""
    context_units: int
    final: bool
    parts: list[str]
    """The canonical text of each of its units (its channel's list at close, not copied)."""
    head_units: int
    """Units ``parts[0]`` stands for."""
    started: float = 0.0
    """Observer only: when the check started and ended, and the window's unit range (units
    of its channel)."""
    ended: float = 0.0
    first_unit: int = 0
    end_unit: int = 0


class WindowChannel:
    """The open window and pending windows of one channel (answer or reasoning)."""

    __slots__ = (
        "carry",
        "deferred",
        "head_units",
        "marks",
        "name",
        "new",
        "pending",
        "released_units",
        "size",
        "sizes",
        "texts",
        "unit_entries",
        "units",
    )

    def __init__(self, name: str, sizes: Iterator[int], observed: bool) -> None:
        self.name = name
        self.sizes = sizes
        self.size = next(sizes)
        """New units that close the open window."""
        self.new = 0
        """New units in the open window (the answer keeps its own count locally per unit)."""
        self.units = 0
        """Units of this channel so far (the answer's is written back when a window closes)."""
        self.texts: list[str] = []
        """Canonical text of each unit of the open window, carried context first."""
        self.marks: list[int] = []
        """Hold-back: the held entry of each of ``texts``."""
        self.head_units = 1
        """Units ``texts[0]`` stands for (a rewrite collapses its carried units into one)."""
        self.pending: deque[Window] = deque()
        self.deferred = False
        """A rewrite reached the carried units: they must be checked again before release."""
        self.carry: tuple[int, AIMessageChunk] | None = None
        """Hold-back, after a rewrite reached the carried units: the carried (original) text as
        a chunk, released after the entry it is attached to once a window passed it."""
        self.unit_entries: deque[int] | None = deque() if observed else None
        """Observer only: the entry of each unit not yet released."""
        self.released_units = 0

    def frontier(self, entries: int) -> int:
        """The first entry holding an unchecked unit of this channel (``entries``: none)."""
        if self.pending:
            return self.pending[0].first_entry
        marks = self.marks
        return marks[0] if marks else entries

    def open_units(self) -> int:
        """Units in the open window (carried context included)."""
        texts = self.texts
        return len(texts) - 1 + self.head_units if texts else 0

    def collapse(self, window: Window, carried: str) -> None:
        """A rewrite reached the carried units: the original text from its cut on (``carried``,
        attached to the window's last entry) stands for those units in the open window."""
        parts = window.parts
        covered, chars = 0, len(carried)
        for position in range(len(parts) - 1, -1, -1):
            if chars <= 0:
                break
            chars -= len(parts[position])
            covered += window.head_units if position == 0 else 1
        last = window.end_entry - 1
        self.texts[: window.context_units] = [carried] if carried else []
        if self.marks:
            self.marks[: window.context_units] = [last] if carried else []
        self.head_units = covered if carried else 1
        self.deferred = bool(carried)
        self.carry = (last, channel_chunk(self.name, carried)) if carried else None
        entries = self.unit_entries
        if entries is not None and carried:
            # Those units are now released with the carried chunk, at ``last``.
            before = [e for e in entries if e < window.end_entry]
            after = list(entries)[len(before) :]
            moved = before[: len(before) - covered] + [last] * min(covered, len(before))
            entries.clear()
            entries.extend(moved + after)


def channel_chunk(name: str, text: str) -> AIMessageChunk:
    """A chunk holding ``text`` on channel ``name`` (a rewrite's text)."""
    if name == ANSWER:
        return AIMessageChunk(content=text)
    return AIMessageChunk(content="", additional_kwargs={REASONING_KWARG: text})


def without_channel(chunk: AIMessageChunk, name: str) -> AIMessageChunk | None:
    """``chunk`` without its text on channel ``name`` (a rewrite replaced it), or None when
    nothing else is left on it. Logprobs describe the answer text, so they go with it."""
    answer, thought = channel_texts(chunk, True)
    if name == ANSWER:
        if not thought and not chunk.tool_call_chunks:
            return None
        content = chunk.content
        kept = (
            ""
            if content.__class__ is str
            else [b for b in content if isinstance(b, dict) and b.get("type") != "text"]
        )
        metadata = {k: v for k, v in chunk.response_metadata.items() if k != "logprobs"}
        return chunk.model_copy(update={"content": kept, "response_metadata": metadata})
    if not answer and not chunk.tool_call_chunks:
        return None
    return without_reasoning(chunk)


def rewrite_cut(window: Window, rewritten: str, spans: Sequence[Span] | None) -> tuple[int, int]:
    """Where a rewrite of a (non-final) window is cut: ``(original_cut, rewritten_cut)``.

    With the ``spans`` the rail replaced, the cut is the first span reaching the carried units;
    without them, the first change of all (or the carried units, when no change reaches them).
    """
    original = window.text
    boundary = len(original) - window.tail_len
    cut = span_cut(original, rewritten, spans, boundary) if spans else None
    if cut is not None:
        return cut
    prefix, suffix = common_ends(original, rewritten)
    if len(original) - suffix <= boundary:
        return boundary, len(rewritten) - window.tail_len
    # Without spans, positions after the first change cannot be mapped: release only the
    # untouched prefix. (Aligning changes with a diff was tried: repeated text makes diffs
    # align the wrong copies and duplicate released text.)
    return min(boundary, prefix), min(boundary, prefix)


def span_cut(
    original: str, rewritten: str, spans: Sequence[Span], boundary: int
) -> tuple[int, int] | None:
    """Where to cut a rewritten window: ``(original_cut, rewritten_cut)``, everything before
    them released (rewritten), the original text from ``original_cut`` on carried. None when
    the spans do not describe the rewrite exactly (then the caller falls back)."""
    position = 0
    for start, end, _ in spans:
        if start < position or end < start:
            return None
        position = end
    if position > len(original) or apply_spans(original, spans) != rewritten:
        return None
    original_cut = boundary
    shift = 0  # rewritten length minus original length, over the spans before the cut
    for start, end, replacement in spans:
        if end > boundary:  # this value reaches the carried units: it may go on after them
            original_cut = min(boundary, start)
            break
        shift += len(replacement) - (end - start)
    return original_cut, original_cut + shift


def common_ends(a: str, b: str) -> tuple[int, int]:
    """Lengths of the common prefix and (non-overlapping) common suffix of ``a`` and ``b``."""
    limit = min(len(a), len(b))
    prefix = 0
    while prefix < limit and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return prefix, suffix


__all__ = [
    "ANSWER",
    "REASONING",
    "Window",
    "WindowChannel",
    "channel_chunk",
    "common_ends",
    "rewrite_cut",
    "span_cut",
    "without_channel",
]
