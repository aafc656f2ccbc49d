"""Turning what users pass (strings, messages, prompt values, dicts) into chat messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue


def to_messages(value: Any) -> list[BaseMessage]:
    """Normalise a chat-model input to a list of messages.

    Accepts a string, a message, a list of messages / message dicts / ``(role, text)`` tuples,
    a ``PromptValue``, or a dict with ``input`` or ``messages`` (as LangServe clients send).
    """
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, dict):
        for key in ("input", "messages"):
            if key in value:
                return to_messages(value[key])
        if "role" in value and "content" in value:
            return convert_to_messages([value])
        raise TypeError(
            f"Guardrails got a dict with keys {sorted(value)}; expected 'input' or 'messages' "
            "(or a single message dict with 'role' and 'content')"
        )
    if isinstance(value, Sequence):
        try:
            return convert_to_messages(value)
        except (ValueError, NotImplementedError, TypeError) as exc:
            raise TypeError(f"Guardrails could not read the messages: {exc}") from exc
    raise TypeError(
        f"Guardrails got {type(value).__name__}; expected a string, messages, a PromptValue "
        "or a dict with 'input'"
    )


def last_user_text(messages: Sequence[BaseMessage]) -> str:
    """Text of the last human message ('' when there is none)."""
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    return ""


def replace_last_user_text(messages: list[BaseMessage], text: str) -> list[BaseMessage]:
    """A copy of ``messages`` whose last human message says ``text`` (input-rail rewrites)."""
    out = list(messages)
    for index in range(len(out) - 1, -1, -1):
        if out[index].type == "human":
            out[index] = out[index].model_copy(update={"content": text})
            break
    return out


def tool_results(
    messages: Sequence[BaseMessage],
) -> list[tuple[int, BaseMessage, dict[str, Any] | None]]:
    """Each ``ToolMessage`` of ``messages`` with its index and the call it answers
    (``{"name", "args", "id"}``, from the AI message that made it; None when not found)."""
    calls: dict[str, dict[str, Any]] = {}
    found: list[tuple[int, BaseMessage, dict[str, Any] | None]] = []
    for index, message in enumerate(messages):
        if message.type == "ai":
            for call in getattr(message, "tool_calls", None) or []:
                if call.get("id"):
                    calls[call["id"]] = {
                        "name": call["name"],
                        "args": call["args"],
                        "id": call["id"],
                    }
        elif message.type == "tool":
            found.append((index, message, calls.get(getattr(message, "tool_call_id", ""))))
    return found


def replace_content(messages: list[BaseMessage], index: int, text: str) -> list[BaseMessage]:
    """A copy of ``messages`` whose message at ``index`` says ``text`` (a copy of it)."""
    out = list(messages)
    out[index] = out[index].model_copy(update={"content": text})
    return out
