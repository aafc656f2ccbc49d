"""``regex check input`` / ``regex check output``: block text that matches configured patterns."""

from __future__ import annotations

import re
from typing import Literal

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
    compiled = [(pattern, re.compile(pattern, flags)) for pattern in settings.patterns]

    def check(text: str) -> RailResult:
        for pattern, regex in compiled:
            if regex.search(text) is not None:
                # Name the pattern (config), never the matched text (user data).
                return RailResult(allowed=False, reason=f"matched pattern {pattern!r}")
        return _ALLOW

    return build_spec(check, name=f"regex check {stage}", inline=True)
