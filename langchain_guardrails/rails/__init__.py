"""Built-in rails, by flow name.

A built-in rail is a factory: given the config and the flow's ``$`` parameters it returns the
:class:`~langchain_guardrails.actions.ActionSpec` to run, so per-config work (compiling patterns,
checking settings) happens once when the ``Guardrails`` object is built, not per window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..actions import ActionSpec
from ..config import RailsConfig
from .regex import regex_check

RailFactory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]

BUILTIN_RAILS: dict[str, RailFactory] = {
    "regex check input": lambda config, params: regex_check(config, "input"),
    "regex check output": lambda config, params: regex_check(config, "output"),
}
"""Flow name -> factory. Later modules register more rails here."""

__all__ = ["BUILTIN_RAILS", "RailFactory"]
