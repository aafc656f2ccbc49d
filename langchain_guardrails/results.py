"""What a guarded call returns: the violation metadata, the aggregated message, rail checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.ai import add_ai_message_chunks

from .engine import Decision, Stage


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


def aggregate(chunks: Sequence[AIMessageChunk]) -> AIMessage:
    """One ``AIMessage`` from a guarded stream; a blocked stream gives the refusal alone."""
    if not chunks:
        return AIMessage(content="")
    last = chunks[-1]
    guard = last.response_metadata.get("guardrails", {})
    merged = last if guard.get("blocked") or len(chunks) == 1 else add_ai_message_chunks(*chunks)
    data = merged.model_dump(exclude={"type", "tool_call_chunks", "chunk_position"})
    return AIMessage(**data)
