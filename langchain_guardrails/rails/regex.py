"""``regex check input`` / ``regex check output``: block text that matches configured patterns.

Patterns come from configs, and a pattern with catastrophic backtracking can take seconds on a
short text. The rail runs inline on the event loop (it is cheap when patterns are sane), so it
matches with the ``regex`` package's ``timeout=`` set to the rail's own timeout (the flow's
``timeout:``, else ``rails.timeout``), shared by all its patterns: a runaway match raises
``TimeoutError``, which the engine reports as a failed rail (fail-closed, ``internal_error``).
"""

from __future__ import annotations

import time
from typing import Literal

import regex as re

from ..actions import ActionSpec, RailResult, build_spec
from ..config import RailsConfig
from ..errors import ConfigError

_ALLOW = RailResult(allowed=True)


def regex_check(config: RailsConfig, stage: Literal["input", "output"]) -> ActionSpec:
    """Build the regex rail for ``stage`` from ``rails.config.regex_detection.<stage>``."""
    settings = getattr(config.rails.config.regex_detection, stage)
    if not settings.patterns:
        raise ConfigError(
            f"'regex check {stage}' needs patterns in rails.config.regex_detection.{stage}.patterns"
        )
    flags = 0 if settings.case_sensitive else re.IGNORECASE
    compiled = [(pattern, _compile(pattern, flags, stage)) for pattern in settings.patterns]

    def check(text: str, timeout: float) -> RailResult:
        deadline = time.monotonic() + timeout
        for pattern, regex in compiled:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"regex check {stage} ran out of time")
            if regex.search(text, timeout=left) is not None:
                # Name the pattern (config), never the matched text (user data).
                return RailResult(allowed=False, reason=f"matched pattern {pattern!r}")
        return _ALLOW

    return build_spec(check, name=f"regex check {stage}", inline=True)


def _compile(pattern: str, flags: int, stage: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ConfigError(
            f"rails.config.regex_detection.{stage}.patterns: {pattern!r} is not a valid "
            f"regular expression: {exc}"
        ) from exc
