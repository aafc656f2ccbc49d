"""Shared pieces of the agent tests: configs, a recording tool, and stream collection."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.tools import BaseTool, tool

from langchain_guardrails import RailsConfig

REFUSAL = "I'm sorry, I can't respond to that."
SEPARATOR = "\n\n"
"""``rails.refusal.separator``: between released text and a refusal after it."""
BLOCKED = "[blocked by guardrails]"


def agent_config(*, stream_first: bool = False, size: int = 3, context: int = 1) -> RailsConfig:
    """Every stage guarded by cheap built-in rails.

    * input: ``ignore previous`` blocks; e-mail addresses are masked;
    * output: ``hunter2`` blocks (windows of ``size`` new units, ``context`` carried);
    * tool calls: ``rm -rf`` blocks;
    * tool results: ``TOKEN-`` blocks, e-mail addresses are masked.
    """
    return RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": ["mask sensitive data on input", "regex check input"]},
                "output": {
                    "flows": ["regex check output"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": size,
                        "context_size": context,
                        "stream_first": stream_first,
                    },
                },
                "tool_output": {"flows": ["regex check output"]},
                "tool_input": {"flows": ["mask sensitive data on input", "regex check input"]},
                "config": {
                    "regex_detection": {
                        "input": {"patterns": ["ignore previous", "TOKEN-"]},
                        "output": {"patterns": ["hunter2", "rm -rf"]},
                    },
                    "sensitive_data_detection": {"input": {"entities": ["EMAIL_ADDRESS"]}},
                },
            }
        }
    )


class Recorder:
    """A ``lookup`` tool that records every call it really ran."""

    def __init__(self, reply: str = "{city}: sunny, contact boss@corp.com") -> None:
        self.calls: list[str] = []
        self.reply = reply

    @property
    def tool(self) -> BaseTool:
        @tool
        def lookup(city: str) -> str:
            """Look up the weather of a city."""
            self.calls.append(city)
            return self.reply.format(city=city)

        return lookup


def call(city: str, call_id: str = "c1") -> dict[str, Any]:
    return {"name": "lookup", "args": {"city": city}, "id": call_id}


def streamed_text(events: Iterable[tuple[Any, dict[str, Any]]]) -> dict[str, str]:
    """The concatenated streamed text per message id (``stream_mode="messages"``)."""
    out: dict[str, str] = defaultdict(str)
    for message, _ in events:
        if isinstance(message, AIMessageChunk):
            out[str(message.id)] += message.text
    return dict(out)


def all_text(messages: Iterable[BaseMessage]) -> str:
    """Every text and tool-call argument in ``messages`` (to look for leaks)."""
    parts = []
    for message in messages:
        parts.append(message.text)
        parts.extend(str(c["args"]) for c in getattr(message, "tool_calls", ()) or ())
    return "\n".join(parts)


def assert_contained(streamed: str, answer: str, phrase: str) -> None:
    """``streamed`` is a prefix of ``answer`` that stops before ``phrase``, then the refusal,
    after ``rails.refusal.separator`` when text was released (how far the release got before
    the block was seen depends on timing)."""
    assert streamed.endswith(REFUSAL), streamed
    released = streamed[: -len(REFUSAL)]
    if released:
        assert released.endswith(SEPARATOR), released
        released = released[: -len(SEPARATOR)]
        assert released, streamed
    assert answer.startswith(released), released
    assert len(released) <= answer.index(phrase), released
