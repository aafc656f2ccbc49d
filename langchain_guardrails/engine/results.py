"""What a guarded call returns: the violation metadata, the refusal, the aggregated message,
rail checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.ai import UsageMetadata, add_ai_message_chunks

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.engine.rail_engine import Decision, Stage
from langchain_guardrails.errors import GuardrailsViolation


@dataclass(frozen=True, slots=True)
class RailCheck:
    """The result of :meth:`Guardrails.acheck`."""

    status: Literal["passed", "modified", "blocked"]
    content: str
    """The checked text, its rewrite (``modified``), or the refusal (``blocked``)."""
    rail: str | None = None
    reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    """The violation metadata when blocked."""


def violation_metadata(decision: Decision, stage: Stage) -> dict[str, Any]:
    """The ``response_metadata["guardrails"]`` of a block."""
    return {
        "blocked": True,
        "stage": stage,
        "rail": decision.rail,
        "reason": decision.reason,
        "type": decision.kind,
        **decision.metadata,
    }


def refusal_text(config: RailsConfig, decision: Decision, stage: Stage) -> str:
    """The refusal of a block: the rail's own, else its stage's, else ``rails.refusal.message``."""
    refusal = config.rails.refusal
    return decision.refusal or getattr(refusal, stage) or refusal.message


def refusal_chunks(
    config: RailsConfig,
    decision: Decision,
    stage: Stage,
    usage: UsageMetadata | None,
    *,
    after_text: bool,
) -> list[AIMessageChunk]:
    """How every stream ends on a block (in-process, LangServe and every server route, which
    all encode this one guarded stream): after released text (``after_text``), a chunk with
    ``rails.refusal.separator``; then the last chunk, the refusal alone with the violation
    metadata and the usage. So the streamed text reads ``released + separator + refusal``, and
    the last chunk is what ``invoke`` returns.

    Raises:
        GuardrailsViolation: instead, when the config sets ``enable_rails_exceptions``.

    Example:
        .. code-block:: python

            *separator, refusal = refusal_chunks(config, decision, "output", None, after_text=True)
    """
    metadata = violation_metadata(decision, stage)
    if config.enable_rails_exceptions:
        raise GuardrailsViolation(
            _exception_message(decision)
            or f"Blocked by {stage} rail {decision.rail!r}"
            + (f": {decision.reason}" if decision.reason else ""),
            metadata=metadata,
            usage_metadata=usage,
        )
    last = AIMessageChunk(
        content=refusal_text(config, decision, stage),
        usage_metadata=usage,
        response_metadata={"guardrails": metadata},
        chunk_position="last",
    )
    separator = config.rails.refusal.separator
    return [AIMessageChunk(content=separator), last] if after_text and separator else [last]


def _exception_message(decision: Decision) -> str | None:
    """The message of a Colang ``create event XxxRailException(message=...)``, NeMo's
    exception text, when the blocking flow created one."""
    exception = decision.metadata.get("exception")
    if isinstance(exception, dict) and exception.get("message"):
        return str(exception["message"])
    return None


def aggregate(chunks: Sequence[AIMessageChunk], *, as_streamed: bool = False) -> AIMessage:
    """One ``AIMessage`` from a guarded stream; a blocked stream gives the refusal alone, or,
    ``as_streamed``, everything streamed (released text, separator, refusal) with the
    refusal's metadata."""
    if not chunks:
        return AIMessage(content="")
    last = chunks[-1]
    guard = last.response_metadata.get("guardrails", {})
    alone = guard.get("blocked") and not as_streamed
    merged = last if alone or len(chunks) == 1 else add_ai_message_chunks(*chunks)
    data = merged.model_dump(exclude={"type", "tool_call_chunks", "chunk_position"})
    return AIMessage(**data)
