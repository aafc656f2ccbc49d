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
