"""Speculative generation: the model starts while the input rails run; nothing it produced
is released or observed before they all passed (``rails.input.speculative_generation``).

The guarded stream (windows, tool-call gate) runs as usual meanwhile, so the first output
windows are checked speculatively too; only its release waits. On an input block the model
stream is closed at once, and the units it produced are reported as usage (they were paid
for). Observers see the model's run redacted (as in hold-back mode), and the window events of
the guarded run only once the input passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import aclosing
from typing import Any, Protocol

from langchain_core.messages import AIMessageChunk

from langchain_guardrails.engine.rail_engine import Decision, RailEngine, Stage
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.streaming.chunks import StreamTally, content_text

InputOutcome = tuple[Decision, Stage] | None
"""What the input check decided: the blocking decision and its stage, or None (passed)."""


class InputBlocked(Exception):
    """An input rail blocked while the model was already running (internal: becomes the
    refusal, never reaches the caller)."""

    def __init__(self, decision: Decision, stage: Stage) -> None:
        super().__init__(f"{stage} rail {decision.rail!r} blocked")
        self.decision = decision
        self.stage = stage


class HeldEvents(Protocol):
    """Events that wait for the input decision (``_events.StreamEvents``)."""

    async def flush(self) -> None:
        """The input passed: send what was held, then send as usual."""

    def discard(self) -> None:
        """The input was blocked: drop what was held and everything after."""


def refuse_rewriting_input(engine: RailEngine) -> None:
    """Speculation needs the input as the user sent it: a masking input rail makes the config
    an error (chosen over a silent per-call fallback to sequential, which would hide that the
    setting has no effect).

    Example:
        .. code-block:: python

            refuse_rewriting_input(RailEngine(config))  # ConfigError when an input rail masks
    """
    for stage, rails in (("input", engine.input_rails), ("tool_input", engine.tool_input_rails)):
        for rail in rails:
            if rail.spec.rewrites:
                raise ConfigError(
                    "rails.input.speculative_generation: true cannot be used with "
                    f"rails.{stage}.flows entry {rail.flow!r}, which rewrites the input: the "
                    "model would start on text the rail has not masked yet (set "
                    "speculative_generation: false, or make the rail block instead of mask)"
                )


class UnitCount:
    """Units the model produced (counted before the guarded stream sees them)."""

    __slots__ = ("units",)

    def __init__(self) -> None:
        self.units = 0


async def counted(source: AsyncIterator[Any], count: UnitCount) -> AsyncIterator[Any]:
    """``source``, counting its units: an input block stops the stream wherever it is, and
    the units received so far are the usage it reports."""
    async with aclosing(source) as stream:  # type: ignore[type-var]
        async for chunk in stream:
            content = chunk.content
            if content if content.__class__ is str else content_text(content):
                count.units += 1
            yield chunk


async def after_input(
    released: AsyncGenerator[AIMessageChunk, None],
    check: asyncio.Future[InputOutcome],
    tally: StreamTally,
    count: UnitCount,
    events: HeldEvents | None = None,
) -> AsyncGenerator[AIMessageChunk, None]:
    """``released`` once the input passed; what it released before is held until then.

    Raises :class:`InputBlocked` (after closing the model stream) when the input is blocked.
    """
    held: list[AIMessageChunk] = []
    step: asyncio.Future[AIMessageChunk] | None = None
    error: BaseException | None = None
    finished = False
    try:
        while not check.done():
            step = asyncio.ensure_future(released.__anext__())
            await asyncio.wait((step, check), return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                break
            current, step = step, None
            try:
                held.append(current.result())
            except StopAsyncIteration:
                finished = True
                break
            except Exception as exc:  # e.g. a blocked tool call: the input decides first
                error = exc
                break
        outcome = await check
        if outcome is not None:
            # Usage first: the relays report it when the model run ends, which stopping it does.
            tally.units = max(tally.units, count.units)
            tally.stop_usage()
            tally.stopped = True
            if step is not None:
                await _cancel(step)
                step = None
            if events is not None:
                events.discard()
            raise InputBlocked(*outcome)
        if events is not None:
            await events.flush()
        for chunk in held:
            yield chunk
        held.clear()
        if error is not None:
            raise error
        if step is not None:
            pending, step = step, None
            try:
                chunk = await pending
            except StopAsyncIteration:
                return
            yield chunk
        if finished:
            return
        async for chunk in released:
            yield chunk
    finally:
        if step is not None:
            await _cancel(step)
        if not check.done():
            check.cancel()
            await asyncio.wait((check,))
        await released.aclose()


async def _cancel(step: asyncio.Future[Any]) -> None:
    step.cancel()
    await asyncio.wait((step,))
    if not step.cancelled():
        step.exception()  # retrieved: it ended on its own meanwhile


def start_input_check(check: Awaitable[InputOutcome]) -> asyncio.Future[InputOutcome]:
    """Run the input check as a task beside the model."""
    return asyncio.ensure_future(check)


__all__ = [
    "HeldEvents",
    "InputBlocked",
    "InputOutcome",
    "UnitCount",
    "after_input",
    "counted",
    "refuse_rewriting_input",
    "start_input_check",
]
