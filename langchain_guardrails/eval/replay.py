"""``--stream``: replay each ``output`` example through ``Guardrails.astream`` as a model would
emit it, in both ``stream_first`` modes, and compare with the whole-text verdict.

The answer is split into units (``words``, ``chars``, or ``tokens``: a GPT-2-like
pre-tokenizer whose long pieces are cut into 4-character sub-words, roughly what a BPE model
emits) and streamed by :class:`~langchain_guardrails.testing.FakeStreamingChatModel`. Only the
config's output rails run, on a copy with output streaming enabled and ``stream_first`` set;
window sizes are the config's; rails that call the main model still call the config's. For a
blocked stream, the characters released before the
refusal are its *leak before block*.

Example:
    .. code-block:: python

        result = await replay(config, examples, unit="words")
        result.modes[0].agreement
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.eval.dataset import Example
from langchain_guardrails.eval.metrics import ratio
from langchain_guardrails.eval.runner import Progress, build_guarded
from langchain_guardrails.eval.stages import check_example, stage_flows, with_flows
from langchain_guardrails.llm.model_stream import main_model
from langchain_guardrails.testing import FakeStreamingChatModel, split_units

_PRE_TOKENS = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?\w+| ?[^\s\w]+|\s+(?!\S)|\s+")
SUBWORD = 4


def token_units(text: str) -> list[str]:
    """Tokenizer-like units: GPT-2 pre-tokens, long ones cut into 4-character pieces.

    Example:
        .. code-block:: python

            token_units("Hello wonderful!")  # ["Hell", "o", " wond", "erfu", "l", "!"]
    """
    units = []
    for piece in _PRE_TOKENS.findall(text):
        head = SUBWORD + 1 if piece.startswith(" ") else SUBWORD
        units.append(piece[:head])
        units.extend(piece[i : i + SUBWORD] for i in range(head, len(piece), SUBWORD))
    return units


UNITS: dict[str, Callable[[str], list[str]]] = {
    "words": split_units,
    "chars": list,
    "tokens": token_units,
}
"""Splitters by ``--unit`` name; each joins back to the exact text."""


class ReplayModel(FakeStreamingChatModel):
    """Streams the example's answer; calls that are not streamed (the rails' own LLM calls,
    which use the main model) go to ``judge``, the config's main model, when there is one."""

    judge: Runnable[Any, Any] | None = None
    """The config's main model, for rails such as ``self check output``."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.judge is None:
            return super()._generate(messages, stop, run_manager, **kwargs)
        answer = self.judge.invoke(messages, stop=stop, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=answer)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.judge is None:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        answer = await self.judge.ainvoke(messages, stop=stop, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=answer)])


@dataclass(frozen=True, slots=True)
class Replayed:
    """One example streamed in one mode."""

    example: Example
    whole_blocked: bool
    """``acheck`` on the whole text blocked it."""
    stream_blocked: bool
    leaked: int
    """Characters released before the block (0 when not blocked)."""

    @property
    def agrees(self) -> bool:
        """The streaming verdict equals the whole-text verdict."""
        return self.whole_blocked == self.stream_blocked


@dataclass(slots=True)
class ModeResult:
    """Figures of one ``stream_first`` mode."""

    stream_first: bool
    rows: list[Replayed] = field(default_factory=list)
    unavailable: str | None = None
    """Why this mode cannot run with the config (e.g. a masking rail needs hold-back)."""

    @property
    def agreement(self) -> float | None:
        """Share of examples whose streaming verdict equals the whole-text verdict."""
        return ratio(sum(r.agrees for r in self.rows), len(self.rows))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, with every disagreement."""
        blocked = [r.leaked for r in self.rows if r.stream_blocked]
        return {
            "stream_first": self.stream_first,
            "unavailable": self.unavailable,
            "n": len(self.rows),
            "agreement": self.agreement,
            "stream_blocked": len(blocked),
            "whole_blocked": sum(r.whole_blocked for r in self.rows),
            "leak_mean_chars": sum(blocked) / len(blocked) if blocked else None,
            "leak_max_chars": max(blocked) if blocked else None,
            "examples": [
                {
                    "line": r.example.line,
                    "label": r.example.label,
                    "whole_blocked": r.whole_blocked,
                    "stream_blocked": r.stream_blocked,
                    "agrees": r.agrees,
                    "leaked_chars": r.leaked,
                }
                for r in self.rows
            ],
        }


@dataclass(slots=True)
class ReplayResult:
    """Both modes, or why nothing was replayed."""

    unit: str
    modes: list[ModeResult] = field(default_factory=list)
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "unit": self.unit,
            "skipped": self.skipped,
            "modes": [m.as_dict() for m in self.modes],
        }


def streaming_copy(config: RailsConfig, stream_first: bool) -> RailsConfig:
    """A copy of ``config`` with output rails only, output streaming on, and ``stream_first``.

    Example:
        .. code-block:: python

            holdback = streaming_copy(config, stream_first=False)
    """
    only = with_flows(config, "output", stage_flows(config, "output") or [])
    output = only.rails.output
    window = output.streaming.model_copy(update={"enabled": True, "stream_first": stream_first})
    output = output.model_copy(update={"streaming": window})
    rails = only.rails.model_copy(update={"output": output})
    return only.model_copy(update={"rails": rails})


async def replay(
    config: RailsConfig,
    examples: Sequence[Example],
    *,
    unit: str = "words",
    unit_delay: float = 0.0,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> ReplayResult:
    """Stream every ``output`` example in both modes (see the module docstring).

    Example:
        .. code-block:: python

            result = await replay(config, examples, unit="tokens")
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; known units: {', '.join(UNITS)}")
    split = UNITS[unit]
    result = ReplayResult(unit)
    items = [e for e in examples if e.stage == "output"]
    if not items:
        result.skipped = "the dataset has no 'output' examples to stream"
        return result
    if not stage_flows(config, "output"):
        result.skipped = "no rails configured for rails.output"
        return result
    gate = asyncio.Semaphore(concurrency)
    whole = build_guarded(with_flows(config, "output", stage_flows(config, "output") or []))
    judge = main_model(config) if config.main_model is not None else None

    async def whole_verdict(example: Example) -> bool:
        async with gate:
            checked = await check_example(whole, example, {})
        return checked.status == "blocked"

    verdicts = await asyncio.gather(*(whole_verdict(e) for e in items))
    total, done = 2 * len(items), 0
    for stream_first in (True, False):
        mode = ModeResult(stream_first)
        result.modes.append(mode)
        copy = streaming_copy(config, stream_first)
        try:
            build_guarded(copy, FakeStreamingChatModel())
        except ConfigError as exc:
            mode.unavailable = str(exc)
            continue

        async def one(example: Example, blocked: bool, copy: RailsConfig = copy) -> Replayed:
            nonlocal done
            llm = ReplayModel(chunks=split(example.text), delay=unit_delay, judge=judge)
            async with gate:
                stream_blocked, leaked = await _stream(build_guarded(copy, llm), example.input)
            done += 1
            if progress is not None:
                progress(done, total)
            return Replayed(example, blocked, stream_blocked, leaked)

        mode.rows = list(
            await asyncio.gather(*(one(e, v) for e, v in zip(items, verdicts, strict=True)))
        )
    return result


async def _stream(guarded: Any, user_message: str) -> tuple[bool, int]:
    """Stream once: (blocked, characters released before the block)."""
    released = 0
    async for chunk in guarded.astream(user_message):
        if chunk.response_metadata.get("guardrails", {}).get("blocked"):
            # After released text the stream put rails.refusal.separator: not model text.
            separator = len(guarded.config.rails.refusal.separator) if released else 0
            return True, released - separator
        released += len(chunk.text)
    return False, 0


__all__ = [
    "UNITS",
    "ModeResult",
    "ReplayResult",
    "Replayed",
    "replay",
    "streaming_copy",
    "token_units",
]
