"""Output windows: check a stream per window of units while it flows, release in stream order.

A *unit* is one non-empty chunk as the model emits it. Window 1 holds units 1..C; window k > 1
holds the last K units of window k-1 (context) plus the next C new units; the last window holds
what is left. Empty chunks (usage, position markers, tool-call deltas) are never units and are
never dropped: they travel in stream order.

* ``stream_first`` - units are released on arrival; windows are checked in the background.
* hold-back - a unit is released only when every window containing it has passed, so blocked
  text that fits in K+1 units is never delivered, not even in part.

The answer and (with ``rails.output.reasoning: check``) the reasoning are two channels, each
with its own windows (see :mod:`~langchain_guardrails.streaming.window_channel`): a chunk is
released only when every window of either channel holding any of its text passed. Unit text is kept
in its canonical form (:func:`~langchain_guardrails.engine.canonical.check_text`), the form rails
check, so a rewrite's spans line up with the window text.

Per unit the work is an append and a counter; joining text and running rails is per window.
At most one window is checked while the next one fills, so a block stops generation at most one
window after the blocked one, and memory stays bounded by two windows.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk

from langchain_guardrails.config.actions import Span
from langchain_guardrails.engine.canonical import check_text
from langchain_guardrails.engine.rail_engine import Decision
from langchain_guardrails.streaming.chunks import StreamTally, split_content
from langchain_guardrails.streaming.reasoning import kwarg_reasoning
from langchain_guardrails.streaming.window_channel import (
    ANSWER,
    REASONING,
    Window,
    WindowChannel,
    channel_chunk,
    rewrite_cut,
    without_channel,
)
from langchain_guardrails.streaming.window_plan import Schedule, WindowObserver, WindowPlan


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
        observed = observer is not None
        self.answer = WindowChannel(ANSWER, plan.sizes(), observed)
        self.thinking = WindowChannel(REASONING, plan.sizes(), observed) if plan.reasoning else None
        self.channels = (self.answer,) if self.thinking is None else (self.answer, self.thinking)
        self.held: deque[AIMessageChunk | None] = deque()
        """Hold-back: chunks not released yet (None: a rewrite left nothing of it)."""
        self.held_base = 0
        self.entries = 0
        self.pending: deque[Window] = deque()
        """Windows of every channel being checked, in the order they closed."""
        self.index = 0
        self.after: dict[int, list[AIMessageChunk]] = {}
        """Hold-back: a rewrite's text, released right after the entry it replaced."""
        self.rewritten = False

    async def run(self, source: AsyncIterator[Any]) -> AsyncGenerator[AIMessageChunk, None]:
        """Consume ``source``; yield chunks as the release rules allow."""
        plan, tally, pending = self.plan, self.tally, self.pending
        hold = not plan.stream_first
        answer, thinking = self.answer, self.thinking
        size = answer.size
        texts, held, marks = answer.texts, self.held, answer.marks
        reasoning = thinking is not None
        unit_entries = answer.unit_entries  # observer only
        new = units = answer_units = 0
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
                thought = ""
                if content.__class__ is not str:
                    tally.list_content = True
                    content, thought = split_content(content, reasoning)
                if reasoning and chunk.additional_kwargs:
                    thought = kwarg_reasoning(chunk) + thought
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
                        units += 1 if content or thought else 0  # received, never shown
                        break
                    for out in released:
                        yield out
                if hold:
                    held.append(chunk)
                    self.entries += 1
                else:
                    yield chunk
                if content:
                    # Canonical at append time (ASCII is returned as is), as rails check it.
                    texts.append(content if content.isascii() else check_text(content))
                    if hold:
                        marks.append(self.entries - 1)
                    if unit_entries is not None:
                        unit_entries.append(self.entries - 1)
                    new += 1
                    answer_units += 1
                    units += 1
                    full = new == size
                    if thought:
                        assert thinking is not None
                        full = self._add(thinking, thought) or full
                elif thought:
                    assert thinking is not None
                    units += 1
                    full = self._add(thinking, thought)
                else:
                    continue
                if full:
                    tally.units = units
                    answer.new, answer.units = new, answer_units
                    # Settle the previous windows before starting these: generation never
                    # runs more than one window past a check.
                    released = await self._settle_all()
                    if released is None:
                        break
                    for out in released:
                        yield out
                    await self._close_full()
                    new, size = answer.new, answer.size
                    texts, marks = answer.texts, answer.marks
            if finished:
                tally.units = units
                answer.new, answer.units = new, answer_units
                for out in await self._finish():
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

    def _add(self, channel: WindowChannel, text: str) -> bool:
        """A unit of a channel other than the answer; True when its window is full."""
        channel.texts.append(text if text.isascii() else check_text(text))
        entry = self.entries - 1
        if not self.plan.stream_first:
            channel.marks.append(entry)
        if channel.unit_entries is not None:
            channel.unit_entries.append(entry)
        channel.new += 1
        channel.units += 1
        return channel.new >= channel.size

    async def _close_full(self) -> None:
        """A channel's window is full: close it, and every other channel's partial window
        with new units (a window may hold fewer than C new units; containment only needs the
        K units of context), so no channel's check lags far behind the stream."""
        for channel in self.channels:
            if channel.new:
                channel.new = 0
                channel.size = next(channel.sizes)
                self._close(channel, final=False)
                if self.observer is not None:
                    await self._observe_window()

    def _close(self, channel: WindowChannel, *, final: bool) -> None:
        """Start checking a channel's window that just filled (or its last, partial one)."""
        texts = channel.texts
        text = "".join(texts)
        keep = 0 if final else min(self.plan.context_size, len(texts))
        first_carried = len(texts) - keep
        carried = texts[first_carried:] if keep else []
        entries = self.entries
        marks = channel.marks
        window = Window(
            index=self.index,
            channel=channel,
            future=self.schedule(text, self.index),
            text=text,
            first_entry=marks[0] if marks else entries,
            end_entry=entries,
            release_to=marks[first_carried] if keep and marks else entries,
            tail_len=sum(map(len, carried)),
            context_units=len(carried),
            final=final,
            parts=texts,
            head_units=channel.head_units,
            first_unit=channel.units - channel.open_units(),
            end_unit=channel.units,
        )
        if first_carried or not keep:
            channel.head_units = 1
        self.pending.append(window)
        channel.pending.append(window)
        self.index += 1
        self.tally.windows = self.index
        channel.texts = carried
        channel.marks = marks[first_carried:] if keep and marks else []
        channel.deferred = False

    async def _settle_all(self) -> list[AIMessageChunk] | None:
        """Settle every pending window; the chunks they release, or None on a block."""
        released: list[AIMessageChunk] = []
        while self.pending:
            settled = await self._settle()
            if settled is None:
                return None
            released += settled
        return released

    async def _settle(self) -> list[AIMessageChunk] | None:
        """Wait for the oldest pending window; its releasable chunks, or None on a block."""
        window = self.pending[0]
        decision = await window.future
        self.pending.popleft()
        channel = window.channel
        channel.pending.popleft()
        observer = self.observer
        if observer is not None:
            ended = window.ended or time.perf_counter()
            await observer.window_checked(window.index, decision, window.started, ended)
        if not decision.allowed:
            self.tally.blocked = _with_window(decision, window.index)
            return None
        if self.plan.stream_first:
            return []
        if decision.text is not None:
            self._rewrite(window, decision.text, decision.spans)
        released = self._pop_to(min(c.frontier(self.entries) for c in self.channels))
        if observer is not None:
            await self._observe_release(window.index)
        return released

    async def _observe_window(self) -> None:
        """Report the window just closed: its unit range, and time its check."""
        window = self.pending[-1]
        window.started = time.perf_counter()
        window.future.add_done_callback(lambda _: setattr(window, "ended", time.perf_counter()))
        assert self.observer is not None
        await self.observer.window_started(
            window.index, window.first_unit, window.end_unit, window.final, window.channel.name
        )

    async def _observe_release(self, window: int | None) -> None:
        """Report, per channel, the units released so far (observer only)."""
        assert self.observer is not None
        end = self.held_base
        for channel in self.channels:
            entries = channel.unit_entries
            assert entries is not None
            count = 0
            while entries and entries[0] < end:
                entries.popleft()
                count += 1
            if count:
                channel.released_units += count
                await self.observer.released(channel.released_units, window, channel.name)

    async def _finish(self) -> list[AIMessageChunk]:
        """End of the model stream: check what is left; release what passed, in order.

        On a block, the units of the windows that passed before it are still released.
        """
        released: list[AIMessageChunk] = []
        if any(c.new for c in self.channels):
            if self.pending and not self.plan.concurrent_final:
                settled = await self._settle_all()  # a rewrite changes the last windows' text
                if settled is None:
                    return released
                released += settled
            await self._close_final(lambda c: c.new > 0)
        while self.pending or any(c.deferred for c in self.channels):
            if not self.pending:
                # No new units, but a rewrite carried text that no window has passed yet.
                await self._close_final(lambda c: c.deferred)
            settled = await self._settle()
            if settled is None:
                return released
            released += settled
        if not self.plan.stream_first:
            released += self._pop_to(self.entries)
            if self.observer is not None:
                await self._observe_release(None)
        return released

    async def _close_final(self, which: Callable[[WindowChannel], bool]) -> None:
        for channel in self.channels:
            if which(channel):
                channel.new = 0
                self._close(channel, final=True)
                if self.observer is not None:
                    await self._observe_window()

    def _pop_to(self, end: int) -> list[AIMessageChunk]:
        held = self.held
        count = end - self.held_base
        if count <= 0:
            return []
        base, self.held_base = self.held_base, end
        if not self.rewritten:
            return [held.popleft() for _ in range(count)]  # type: ignore[misc]
        # After a rewrite: skip what it emptied, add its text after the entry it replaced.
        released: list[AIMessageChunk] = []
        after = self.after
        for entry in range(base, end):
            chunk = held.popleft()
            if chunk is not None:
                released.append(chunk)
            if entry in after:
                released += after.pop(entry)
            for channel in self.channels:
                if channel.carry is not None and channel.carry[0] == entry:
                    released.append(channel.carry[1])
                    channel.carry = None
        return released

    def _rewrite(self, window: Window, rewritten: str, spans: Sequence[Span] | None) -> None:
        """Replace the window's unreleased text on its channel by a rail's rewrite (hold-back
        only); the held chunks stay where they are, so the other channel is not disturbed.

        The units carried into the next window stay held as they are when the rewrite left them
        alone; when a change reaches them, the text from that change on is carried, as original
        text, into the next window. With the ``spans`` the rail replaced, that change is the
        first span reaching the carried units (everything before it is released, rewritten);
        without them, it is the first change of all.
        """
        self.rewritten = True
        if window.final:
            self._replace(window, window.end_entry, rewritten)
            return
        original = window.text
        original_cut, rewritten_cut = rewrite_cut(window, rewritten, spans)
        boundary = len(original) - window.tail_len
        if original_cut == boundary and rewritten[rewritten_cut:] == original[boundary:]:
            # The carried units are untouched: they stay held as they are.
            self._replace(window, window.release_to, rewritten[:rewritten_cut])
            return
        # A change reaches the carried units: that value may continue in the next window, so
        # carry the *original* text from the cut on, which the next window checks (and
        # rewrites) whole.
        self._replace(window, window.end_entry, rewritten[:rewritten_cut])
        window.channel.collapse(window, original[original_cut:])

    def _replace(self, window: Window, end: int, text: str) -> None:
        """Take the window's channel text off its held entries before ``end``; ``text`` goes
        right after the window's first entry instead."""
        channel, base, held = window.channel, self.held_base, self.held
        first = window.first_entry
        for entry in range(first, end):
            chunk = held[entry - base]
            if chunk is not None:
                held[entry - base] = without_channel(chunk, channel.name)
        if channel.carry is not None and first <= channel.carry[0] < end:
            channel.carry = None  # its text was this window's first text: rewritten now
        if text:
            self.after.setdefault(first, []).append(channel_chunk(channel.name, text))


def _with_window(decision: Decision, index: int) -> Decision:
    return Decision(
        allowed=False,
        rail=decision.rail,
        reason=decision.reason,
        kind=decision.kind,
        refusal=decision.refusal,
        metadata={**decision.metadata, "window": index},
    )


__all__ = ["Schedule", "WindowObserver", "WindowPlan", "WindowStream"]
