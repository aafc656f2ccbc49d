"""Exceptions raised by langchain_guardrails."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A guardrails configuration is invalid.

    The message names the file, the line and the key when they are known, e.g.
    ``config.yml:12: rails.output.streaming.chunk_size: must be >= 1 (got 0)``.
    """


class GuardrailsViolation(Exception):
    """Raised instead of a refusal when the config sets ``enable_rails_exceptions: true``.

    Attributes:
        stage: ``"input"``, ``"output"``, ``"tool_input"`` or ``"tool_output"``.
        rail: the flow name of the rail that blocked.
        reason: why it blocked, when the rail said.
        metadata: the same dict a refusal chunk carries in ``response_metadata["guardrails"]``.
        usage_metadata: the main model's usage up to the block, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        metadata: dict[str, Any],
        usage_metadata: Any = None,
    ) -> None:
        super().__init__(message)
        self.metadata = metadata
        self.stage: str = metadata.get("stage", "")
        self.rail: str = metadata.get("rail", "")
        self.reason: str | None = metadata.get("reason")
        self.usage_metadata = usage_metadata


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with "
            f"`pip install 'langchain-stream-guardrails[{extra}]'`"
        )
        self.extra = extra


def require(module: str, extra: str) -> Any:
    """Import an optional dependency, or raise :class:`MissingExtraError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.split(".")[0], extra) from exc


EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
"""Exit codes of the ``langchain-guardrails`` commands."""


class CLIError(Exception):
    """An error a command prints (without a traceback) before exiting with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code
