"""Agent-state messages of :class:`~langchain_guardrails.agents.middleware.GuardrailsMiddleware`:
refusals, blocked tool results, and the marks it leaves on what it checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_guardrails.engine.results import RailCheck

BLOCKED_TOOL_RESULT = "[blocked by guardrails]"
"""Content of the tool message that stands in for a blocked call or result: the call still
gets its answer, so the history stays valid for providers that require one per call."""

CHECKED_KEY = "tool_calls_checked"
"""Key in an answer's ``response_metadata["guardrails"]``: which of its tool calls passed
``rails.tool_output`` inside the guarded model call (by that middleware)."""


def refusal(check: RailCheck) -> AIMessage:
    """The answer an agent ends with after a block."""
    return AIMessage(content=check.content, response_metadata={"guardrails": dict(check.metadata)})


def blocked_tool_message(
    check: RailCheck, call: Mapping[str, Any], content: str = BLOCKED_TOOL_RESULT
) -> ToolMessage:
    """The stand-in answer of a blocked call; it carries the refusal for ``before_model``."""
    return ToolMessage(
        content=content,
        tool_call_id=str(call.get("id") or ""),
        name=call.get("name"),
        status="error",
        response_metadata={"guardrails": {**check.metadata, "refusal": check.content}},
    )


def new_user_messages(messages: Sequence[BaseMessage]) -> list[tuple[int, HumanMessage]]:
    """The user messages of this turn, with their positions: those after the last answer
    (earlier ones were checked in their own turn)."""
    turn: list[tuple[int, HumanMessage]] = []
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, AIMessage):
            break
        if isinstance(message, HumanMessage):
            turn.append((index, message))
    return turn[::-1]


def pending_refusal(messages: Sequence[BaseMessage]) -> AIMessage | None:
    """The refusal owed for a tool block since the last answer, if a tool was blocked."""
    blocked = None
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            break
        if isinstance(message, ToolMessage):
            guard = message.response_metadata.get("guardrails")
            if isinstance(guard, dict) and guard.get("blocked"):
                blocked = guard  # the first block in message order wins
    if blocked is None:
        return None
    metadata = {k: v for k, v in blocked.items() if k != "refusal"}
    return AIMessage(content=str(blocked["refusal"]), response_metadata={"guardrails": metadata})


def is_refusal(message: BaseMessage) -> bool:
    guard = message.response_metadata.get("guardrails")
    return isinstance(guard, dict) and guard.get("blocked") is True


def mark_checked(message: AIMessage, marker: str) -> AIMessage:
    """A copy of ``message`` recording that its tool calls passed ``rails.tool_output``."""
    metadata = dict(message.response_metadata)
    guard = dict(metadata.get("guardrails") or {})
    guard[CHECKED_KEY] = {"by": marker, "ids": [call["id"] for call in message.tool_calls]}
    metadata["guardrails"] = guard
    return message.model_copy(update={"response_metadata": metadata})


def already_checked(messages: Sequence[Any], call: Mapping[str, Any], marker: str) -> bool:
    """Whether ``call``, exactly as it is now, passed this middleware's model-call check."""
    call_id = call.get("id")
    if not call_id:
        return False
    for message in reversed(messages):
        if not isinstance(message, AIMessage):
            continue
        for made in message.tool_calls:
            if made.get("id") != call_id:
                continue
            checked = (message.response_metadata.get("guardrails") or {}).get(CHECKED_KEY)
            return (
                isinstance(checked, dict)
                and checked.get("by") == marker
                and call_id in checked.get("ids", ())
                and made.get("name") == call.get("name")
                and made.get("args") == call.get("args")
            )
    return False
