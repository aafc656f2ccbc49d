"""Input verdicts reached before LangGraph sees a turn, and how ``before_agent`` trusts them.

LangGraph writes an agent's input into the checkpoint (steps -1 and 0) and emits it on the
``values``, ``debug``, ``tasks`` and ``checkpoints`` streams before any middleware hook runs, so
a masked or blocked user message stays raw there when the input rails run in ``before_agent``.
:class:`~langchain_guardrails.agents.guarded_graph.GuardedAgent` runs the input rails first and
hands the graph what may be kept: the rewrite, or the placeholder of a blocked message. Each
of them carries a *seal*: the verdict (status, refusal and violation metadata) with an HMAC
under a key only the middleware holds, bound to the message's id and content. ``before_agent``
takes a sealed verdict instead of checking again (LLM rails are not paid twice), ends a
blocked run with the same refusal, and replaces the sealed message by an unsealed copy, so the
final state reads exactly as without the wrapper. A seal copied from a stream into another
input is only ever the verdict of that same text; a forged or stale one is ignored and the
message is checked as usual.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import uuid4

from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langgraph.graph.message import add_messages

from langchain_guardrails.agents.messages import new_user_messages
from langchain_guardrails.engine.results import RailCheck

SEAL_KEY = "input_checked"
"""Key in a user message's ``response_metadata["guardrails"]`` holding its sealed verdict."""


class InputSeal:
    """Seals input verdicts with a per-middleware key, and opens them in ``before_agent``."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def seal(self, message: HumanMessage, check: RailCheck, placeholder: str) -> HumanMessage:
        """What the graph gets for ``message`` after ``check``: its rewrite, the placeholder
        (blocked) or itself, with the verdict sealed to that content."""
        content: Any = message.content
        if check.status == "blocked":
            content = placeholder
        elif check.status == "modified":
            content = check.content
        verdict = {
            "status": check.status,
            # A passed check's content is the message itself: no need to carry it twice.
            "content": "" if check.status == "passed" else check.content,
            "rail": check.rail,
            "reason": check.reason,
            # Plain JSON, so the signed form survives any checkpoint serializer.
            "metadata": json.loads(json.dumps(check.metadata, default=str)),
        }
        verdict["sig"] = self._sign(message.id, content, verdict)
        metadata = dict(message.response_metadata)
        metadata["guardrails"] = {**(metadata.get("guardrails") or {}), SEAL_KEY: verdict}
        return message.model_copy(update={"content": content, "response_metadata": metadata})

    def verdict(self, message: HumanMessage) -> RailCheck | None:
        """The sealed verdict of ``message`` as it is now, or ``None`` (unsealed, forged,
        or sealed for another content)."""
        guard = message.response_metadata.get("guardrails")
        sealed = guard.get(SEAL_KEY) if isinstance(guard, Mapping) else None
        if not isinstance(sealed, Mapping):
            return None
        verdict = {key: value for key, value in sealed.items() if key != "sig"}
        expected = self._sign(message.id, message.content, verdict)
        if not hmac.compare_digest(str(sealed.get("sig", "")), expected):
            return None
        status = verdict.get("status")
        if status not in ("passed", "modified", "blocked"):
            return None
        text = message.text if status == "passed" else str(verdict.get("content", ""))
        return RailCheck(
            status=status,
            content=text,
            rail=verdict.get("rail"),
            reason=verdict.get("reason"),
            metadata=dict(verdict.get("metadata") or {}),
        )

    def _sign(self, message_id: str | None, content: Any, verdict: Mapping[str, Any]) -> str:
        payload = json.dumps([message_id, content, verdict], sort_keys=True, default=str)
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


def unsealed(message: HumanMessage) -> HumanMessage:
    """``message`` without its seal (the state keeps no trace of the wrapper)."""
    guard = message.response_metadata.get("guardrails")
    if not isinstance(guard, Mapping) or SEAL_KEY not in guard:
        return message
    metadata = dict(message.response_metadata)
    rest = {key: value for key, value in guard.items() if key != SEAL_KEY}
    if rest:
        metadata["guardrails"] = rest
    else:
        del metadata["guardrails"]
    return message.model_copy(update={"response_metadata": metadata})


class TurnInput:
    """An agent input prepared for the input rails: its messages with ids (copies; the
    caller's objects are never changed), and the state ``before_agent`` will see."""

    def __init__(self, input: Mapping[str, Any], history: Sequence[BaseMessage]) -> None:
        self.input = input
        raw = input["messages"]
        items = raw if isinstance(raw, list | tuple) else [raw]
        # Ids now, so the graph keeps the ones the verdicts are sealed to.
        self.messages = [
            m if m.id else m.model_copy(update={"id": str(uuid4())})
            for m in convert_to_messages(items)
        ]
        merged: Any = add_messages(list[Any](history), list[Any](self.messages))
        self.state: list[BaseMessage] = list(merged)
        ids = {m.id for m in self.messages}
        self.turn = [(i, m) for i, m in new_user_messages(self.state) if m.id in ids]

    def screened(self, sealed: Sequence[HumanMessage]) -> dict[str, Any]:
        """The input the graph gets: the turn's messages replaced by their sealed copies."""
        by_id = {m.id: m for m in sealed}
        return {**self.input, "messages": [by_id.get(m.id, m) for m in self.messages]}


def has_messages(input: Any) -> bool:
    """Whether ``input`` brings messages (not a ``Command``, a resume or a plain update)."""
    return isinstance(input, Mapping) and bool(input.get("messages"))
