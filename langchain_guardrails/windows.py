"""Output windows: check a stream per window of units while it flows, release in stream order.

A *unit* is one non-empty chunk as the model emits it. Window 1 holds units 1..C; window k > 1
holds the last K units of window k-1 (context) plus the next C new units; the last window holds
what is left. Empty chunks (usage, position markers, tool-call deltas) are never units and are
never dropped: they travel in stream order.

* ``stream_first`` - units are released on arrival; windows are checked in the background.
* hold-back - a unit is released only when every window containing it has passed, so blocked
  text that fits in K+1 units is never delivered, not even in part.

Per unit the work is an append and a counter; joining text and running rails is per window.
At most one window is checked while the next one fills, so a block stops generation at most one
window after the blocked one, and memory stays bounded by two windows.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.messages import AIMessageChunk

from .actions import Span, apply_spans
from .chunks import StreamTally, content_text, unit_text
from .config import OutputStreaming
from .engine import Decision
from .reasoning import kwarg_reasoning

Schedule = Callable[[str, int], "asyncio.Future[Decision]"]
"""Starts the check of one window ``(text, index)`` and returns its future decision."""


class WindowObserver(Protocol):
    """Optional per-window hooks of a :class:`WindowStream` (set only when someone listens).

    Units are counted from 0 in stream order; ranges are half-open. Nothing here is called
    per unit except what :meth:`timed` does inside its own wrapper.
    """

    def timed(self, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Wrap the model stream (e.g. to time each unit's arrival)."""
        ...

    async def window_started(self, index: int, first_unit: int, end_unit: int, final: bool) -> None:
        """Window ``index`` (units ``[first_unit, end_unit)``, context included) is checked."""

    async def window_checked(
        self, index: int, decision: Decision, started: float, ended: float
    ) -> None:
        """Window ``index`` was checked from ``started`` to ``ended`` (``perf_counter``)."""

    async def released(self, end_unit: int, window: int | None) -> None:
        """Hold-back: every unit before ``end_unit`` has now been released."""

    async def ended(self, units: int, windows: int, blocked: bool) -> None:
        """The stream is over (finished, blocked, or stopped by the consumer)."""


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Window sizes and release mode of one config."""

    chunk_size: int
    context_size: int
    stream_first: bool
    concurrent_final: bool = True
    """The last window may be checked while the one before it still runs (no rewriting rails)."""
    reasoning: bool = False
    """Reasoning text is part of each unit's text (``rails.output.reasoning: check``)."""
    first_chunk_size: int = 0
    """New units of window 1; each later window doubles it up to ``chunk_size`` (0: the same
    as ``chunk_size``)."""

    def sizes(self) -> Iterator[int]:
        """New units of windows 1, 2, ... (the last window may hold fewer).

        Example:
            .. code-block:: python

                plan = WindowPlan(200, 50, stream_first=False, first_chunk_size=10)
                list(itertools.islice(plan.sizes(), 6))  # [10, 20, 40, 80, 160, 200]
        """
        size = self.first_chunk_size or self.chunk_size
        while True:
            yield size
            size = min(size * 2, self.chunk_size)

    @classmethod
    def from_config(
        cls, streaming: OutputStreaming, *, rewrites: bool, reasoning: bool = False
    ) -> WindowPlan:
        """Windows as configured, or one hold-back window over the whole response when
        streaming output rails are disabled (nothing is released before it passed)."""
        if not streaming.enabled:
            return cls(
                sys.maxsize,
                0,
                stream_first=False,
                concurrent_final=not rewrites,
                reasoning=reasoning,
            )
        return cls(
            streaming.chunk_size,
            streaming.context_size,
            streaming.stream_first,
            concurrent_final=not rewrites,
            reasoning=reasoning,
            first_chunk_size=streaming.first_chunk_size or streaming.chunk_size,
        )


@dataclass(slots=True)
class _Window:
    index: int
    future: asyncio.Future[Decision]
    text: str
    end_entry: int
    """Absolute entry index just after this window's last unit (hold-back)."""
    release_to: int
    """Entries before this index are released when the window passes (hold-back)."""
    tail_len: int
    """Characters of the context carried into the next window."""
    context_units: int
    final: bool
    started: float = 0.0
    """Observer only: when the check started and ended, and the window's unit range."""
    ended: float = 0.0
    first_unit: int = 0
    end_unit: int = 0


class WindowStream:
    """One stream's windows. Build one per call; :meth:`run` yields the released chunks.

    After :meth:`run` ends, ``tally.blocked`` says whether (and why) the stream was blocked; the
    model stream has then been closed, and nothing after the blocked window was released.
    """

    def __init__(
        self,
        plan: WindowPlan,
        schedule: Schedule,
        tally: StreamTally,
        observer: WindowObserver | None = None,
    ) -> None:
        self.plan = plan
        self.schedule = schedule
        self.tally = tally
        self.observer = observer
        self.texts: list[str] = []
        self.marks: list[int] = []
        """Hold-back: the held entry of each of ``texts`` (where a carried context starts)."""
        self.held: deque[AIMessageChunk] = deque()
        self.held_base = 0
        self.entries = 0
        self.pending: deque[_Window] = deque()
        self.index = 0
        self.deferred = False
        """A rewrite reached the carried units: they must be checked again before release."""
        self._observed_end = 0
        self._carry_start: int | None = None

    async def run(self, source: AsyncIterator[Any]) -> AsyncGenerator[AIMessageChunk, None]:
        """Consume ``source``; yield chunks as the release rules allow."""
        plan, tally, pending = self.plan, self.tally, self.pending
        hold = not plan.stream_first
        sizes = plan.sizes()
        size = next(sizes)
        texts, held, marks = self.texts, self.held, self.marks
        reasoning = plan.reasoning
        new = units = 0
        finished = False
        observer = self.observer
        if observer is not None:
            source = observer.timed(source)
        pull = source.__anext__
        waiting: asyncio.Future[Any] | None = None  # a model step raced against a check
        try:
            while True:
                if waiting is not None or (hold and pending and not pending[0].future.done()):
                    # Hold-back with a check running: release its units the moment it passes,
                    # not when the next model chunk happens to arrive.
                    if waiting is None:
                        waiting = asyncio.ensure_future(pull())
                    if pending and not pending[0].future.done():
                        await asyncio.wait(
                            (waiting, pending[0].future), return_when=asyncio.FIRST_COMPLETED
                        )
                    if not waiting.done():
                        if pending:
                            released = await self._settle()
                            if released is None:
                                break
                            for out in released:
                                yield out
                            continue
                        await asyncio.wait((waiting,))
                    step, waiting = waiting, None
                    try:
                        chunk = step.result()
                    except StopAsyncIteration:
                        finished = True
                        break
                else:
                    try:
                        chunk = await pull()
                    except StopAsyncIteration:
                        finished = True
                        break
                content = chunk.content
                if content.__class__ is not str:
                    tally.list_content = True
                    content = content_text(content, reasoning)
                if reasoning and chunk.additional_kwargs:
                    content = kwarg_reasoning(chunk) + content
                if (
                    chunk.usage_metadata is not None
                    or chunk.__class__ is not AIMessageChunk
                    or chunk.chunk_position is not None
                ):
                    chunk = tally.absorb(chunk)
                if pending and pending[0].future.done():
                    # Before this chunk goes anywhere: a block decided meanwhile stops it.
                    released = await self._settle()
                    if released is None:
                        units += 1 if content else 0  # received (and paid for), never shown
                        break
                    for out in released:
                        yield out
                if hold:
                    held.append(chunk)
                    self.entries += 1
                else:
                    yield chunk
                if content:
                    texts.append(content)
                    if hold:
                        marks.append(self.entries - 1)
                    new += 1
                    units += 1
                    if new == size:
                        new = 0
                        size = next(sizes)
                        tally.units = units
                        # Settle the previous window before starting this one: generation
                        # never runs more than one window past a check.
                        released = await self._settle() if pending else []
                        if released is None:
                            break
                        self._close(final=False)
                        if observer is not None:
                            await self._observe_window()
                        texts, marks = self.texts, self.marks
                        for out in released:
                            yield out
            if finished:
                tally.units = units
                for out in await self._finish(new):
                    yield out
        finally:
            tally.units = units
            for window in pending:
                window.future.cancel()
            if not finished:
                # Blocked, or the consumer stopped: stop generation now, keep the usage so far.
                tally.stop_usage()
                tally.stopped = True
                if waiting is not None:
                    waiting.cancel()  # the model step in flight; the stream closes with it
                    await asyncio.wait((waiting,))
                    if not waiting.cancelled():
                        waiting.exception()  # retrieved: it ended on its own meanwhile
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()
            if observer is not None:
                await observer.ended(units, self.index, tally.blocked is not None)

    def _close(self, *, final: bool) -> None:
        """Start checking the window that just filled (or the last, partial one)."""
        texts = self.texts
        text = "".join(texts)
        keep = 0 if final else min(self.plan.context_size, len(texts))
        first_carried = len(texts) - keep
        carried = texts[first_carried:] if keep else []
        entries = self.entries
        marks = self.marks
        self.pending.append(
            _Window(
                index=self.index,
                future=self.schedule(text, self.index),
                text=text,
                end_entry=entries,
                release_to=marks[first_carried] if keep and marks else entries,
                tail_len=sum(map(len, carried)),
                context_units=len(carried),
                final=final,
            )
        )
        self.index += 1
        self.tally.windows = self.index
        self.texts = carried
        self.marks = marks[first_carried:] if keep and marks else []
        self.deferred = False

    async def _settle(self) -> list[AIMessageChunk] | None:
        """Wait for the oldest pending window; its releasable chunks, or None on a block."""
        window = self.pending[0]
        decision = await window.future
        self.pending.popleft()
        observer = self.observer
        if observer is not None:
            ended = window.ended or time.perf_counter()
            await observer.window_checked(window.index, decision, window.started, ended)
        if not decision.allowed:
            self.tally.blocked = _with_window(decision, window.index)
            return None
        if self.plan.stream_first:
            return []
        if decision.text is None:
            released = self._pop_to(window.release_to)
            if observer is not None:
                kept = 0 if window.final else self.plan.context_size
                await observer.released(max(0, window.end_unit - kept), window.index)
        else:
            lengths = self._held_lengths(window) if observer is not None else []
            released = self._rewrite(window, decision.text, decision.spans)
            if observer is not None:
                await observer.released(self._released_after_rewrite(window, lengths), window.index)
        return released

    async def _observe_window(self) -> None:
        """Report the window just closed: its unit range, and time its check."""
        window = self.pending[-1]
        end = self.tally.units
        if self._carry_start is not None:  # a rewrite carried these units into this window
            first, self._carry_start = self._carry_start, None
        else:
            first = max(0, self._observed_end - self.plan.context_size)
        self._observed_end = window.end_unit = end
        window.first_unit = first
        window.started = time.perf_counter()
        window.future.add_done_callback(lambda _: setattr(window, "ended", time.perf_counter()))
        assert self.observer is not None
        await self.observer.window_started(window.index, first, end, window.final)

    def _held_lengths(self, window: _Window) -> list[int]:
        """Text lengths of the window's held entries (observer only, before a rewrite)."""
        count = window.end_entry - self.held_base
        reasoning = self.plan.reasoning
        return [n for c in list(self.held)[:count] if (n := len(unit_text(c, reasoning)))]

    def _released_after_rewrite(self, window: _Window, lengths: list[int]) -> int:
        """The first unit a rewrite kept back: the units (wholly or partly) in the text it
        carried into the next window; without a carry, the usual context."""
        if not self.deferred:
            return max(0, window.end_unit - (0 if window.final else self.plan.context_size))
        carried, start = len(self.texts[0]), window.end_unit
        # Entry 0 may stand for several units (an earlier carry); the others are one unit each.
        for position in range(len(lengths) - 1, -1, -1):
            if carried <= 0:
                break
            carried -= lengths[position]
            start = window.end_unit - (len(lengths) - position) if position else window.first_unit
        self._carry_start = start
        return start

    async def _finish(self, new: int) -> list[AIMessageChunk]:
        """End of the model stream: check what is left; release what passed, in order.

        On a block, the units of the windows that passed before it are still released.
        """
        released: list[AIMessageChunk] = []
        if new:
            if self.pending and not self.plan.concurrent_final:
                settled = await self._settle()  # a rewrite there changes the last window's text
                if settled is None:
                    return released
                released += settled
            self._close(final=True)
            if self.observer is not None:
                await self._observe_window()
        while self.pending or self.deferred:
            if not self.pending:
                # No new units, but a rewrite carried text that no window has passed yet.
                self._close(final=True)
                if self.observer is not None:
                    await self._observe_window()
            settled = await self._settle()
            if settled is None:
                return released
            released += settled
        if not self.plan.stream_first:
            released += self._pop_to(self.entries)
            if self.observer is not None:
                await self.observer.released(self.tally.units, None)
        return released

    def _pop_to(self, end: int) -> list[AIMessageChunk]:
        held = self.held
        count = end - self.held_base
        if count <= 0:
            return []
        self.held_base = end
        return [held.popleft() for _ in range(count)]

    def _rewrite(
        self, window: _Window, rewritten: str, spans: Sequence[Span] | None = None
    ) -> list[AIMessageChunk]:
        """Replace the window's unreleased text by a rail's rewrite (hold-back only).

        The units carried into the next window stay held as they are when the rewrite left them
        alone; when a change reaches them, the text from that change on is carried, as original
        text, into the next window. With the ``spans`` the rail replaced, that change is the
        first span reaching the carried units (everything before it is released, rewritten);
        without them, it is the first change of all.
        """
        if window.final:
            return self._replace(self._pop_to(window.end_entry), rewritten)
        original = window.text
        boundary = len(original) - window.tail_len
        cut = _span_cut(original, rewritten, spans, boundary) if spans else None
        if cut is None:
            prefix, suffix = _common_ends(original, rewritten)
            if len(original) - suffix <= boundary:
                cut = (boundary, len(rewritten) - window.tail_len)
            else:
                # Without spans, positions after the first change cannot be mapped: release
                # only the untouched prefix. (Aligning changes with a diff was tried: repeated
                # text makes diffs align the wrong copies and duplicate released text.)
                cut = (min(boundary, prefix), min(boundary, prefix))
        original_cut, rewritten_cut = cut
        if original_cut == boundary and rewritten[rewritten_cut:] == original[boundary:]:
            # The carried units are untouched: they stay held as they are.
            return self._replace(self._pop_to(window.release_to), rewritten[:rewritten_cut])
        # A change reaches the carried units: that value may continue in the next window, so
        # carry the *original* text from the cut on, which the next window checks (and
        # rewrites) whole.
        released = self._replace(self._pop_to(window.end_entry), rewritten[:rewritten_cut])
        carried = original[original_cut:]
        self.texts[: window.context_units] = [carried] if carried else []
        if self.marks:
            self.marks[: window.context_units] = [self.held_base - 1] if carried else []
        self.deferred = bool(carried)
        if carried:
            self.held.appendleft(AIMessageChunk(content=carried))
            self.held_base -= 1
        return released

    def _replace(self, popped: list[AIMessageChunk], text: str) -> list[AIMessageChunk]:
        """``text`` as one chunk in place of the popped units; their metadata chunks follow."""
        # With reasoning checked, its text is in the rewrite (delivered as content).
        reasoning = self.plan.reasoning
        metadata_only = [c for c in popped if not unit_text(c, reasoning)]
        return [AIMessageChunk(content=text), *metadata_only] if text else metadata_only


def _span_cut(
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


def _common_ends(a: str, b: str) -> tuple[int, int]:
    """Lengths of the common prefix and (non-overlapping) common suffix of ``a`` and ``b``."""
    limit = min(len(a), len(b))
    prefix = 0
    while prefix < limit and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def _with_window(decision: Decision, index: int) -> Decision:
    return Decision(
        allowed=False,
        rail=decision.rail,
        reason=decision.reason,
        kind=decision.kind,
        refusal=decision.refusal,
        metadata={**decision.metadata, "window": index},
    )
