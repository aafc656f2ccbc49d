"""``regex check input`` / ``regex check output``: block text that matches configured patterns.

Patterns come from configs, and a pattern with catastrophic backtracking can take seconds on a
short text (``^(a|aa)+$`` on forty ``a`` and a ``!``). Sane patterns on a window take
microseconds, so the rail first matches on the event loop with a budget of
:data:`INLINE_BUDGET` seconds (the ``regex`` package's own ``timeout=``): no thread hop for
the common case. A match that needs longer moves to the sync-rail thread pool, where the
``regex`` package releases the GIL (``concurrent=True``) and the event loop keeps serving; there
it stops at the rail's own timeout (the flow's ``timeout:``, else ``rails.timeout``, shared by
all its patterns) with ``TimeoutError``, which the engine reports as a failed rail
(fail-closed, ``internal_error``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from typing import Literal

import regex as re

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.executor import run_sync_rail

_ALLOW = RailResult(allowed=True)

INLINE_BUDGET = 0.002
"""Seconds of matching a window may take on the event loop before it moves to a thread (the
``regex`` package checks its timeout every so many steps: it may overrun by a few ms)."""

Compiled = Sequence[tuple[str, "re.Pattern[str]"]]


def regex_check(config: RailsConfig, stage: Literal["input", "output"]) -> ActionSpec:
    """Build the regex rail for ``stage`` from ``rails.config.regex_detection.<stage>``."""
    settings = getattr(config.rails.config.regex_detection, stage)
    if not settings.patterns:
        raise ConfigError(
            f"'regex check {stage}' needs patterns in rails.config.regex_detection.{stage}.patterns"
        )
    flags = 0 if settings.case_sensitive else re.IGNORECASE
    compiled = tuple((pattern, _compile(pattern, flags, stage)) for pattern in settings.patterns)

    def check(text: str, timeout: float) -> RailResult | Awaitable[RailResult]:
        started = time.monotonic()
        inline_end = started + min(INLINE_BUDGET, timeout)
        for index, (pattern, regex) in enumerate(compiled):
            left = inline_end - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                found = regex.search(text, timeout=left)
            except TimeoutError:
                # Slow (or runaway): the rest runs off the loop until the rail's deadline.
                return run_sync_rail(
                    _search_from, compiled=compiled[index:], text=text, deadline=started + timeout
                )
            if found is not None:
                return _blocked(pattern)
        return _ALLOW

    return build_spec(check, name=f"regex check {stage}", inline=True)


def _search_from(compiled: Compiled, text: str, deadline: float) -> RailResult:
    """Match in a worker thread, without the GIL, until ``deadline`` (``time.monotonic()``)."""
    for pattern, regex in compiled:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("regex check ran out of time")
        if regex.search(text, timeout=left, concurrent=True) is not None:
            return _blocked(pattern)
    return _ALLOW


def _blocked(pattern: str) -> RailResult:
    # Name the pattern (config), never the matched text (user data).
    return RailResult(allowed=False, reason=f"matched pattern {pattern!r}")


def _compile(pattern: str, flags: int, stage: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ConfigError(
            f"rails.config.regex_detection.{stage}.patterns: {pattern!r} is not a valid "
            f"regular expression: {exc}"
        ) from exc
