"""Run only the rails of a config on a conversation (for model calls made elsewhere)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from langchain_core.messages import BaseMessage

from langchain_guardrails.engine.results import RailCheck
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.llm.messages import tool_results
from langchain_guardrails.server.operations.access import request_id
from langchain_guardrails.server.operations.disconnects import cancel_on_disconnect
from langchain_guardrails.server.operations.telemetry import record_outcome
from langchain_guardrails.server.protocol.json_http import JSONBody, request_json
from langchain_guardrails.server.protocol.openai_schema import RequestError, parse_messages
from langchain_guardrails.server.protocol.route_deps import RouteDeps

STAGES = ("input", "tool_input", "tool_output", "output")
"""Every stage a conversation can be checked at, in the order a turn meets them."""
CHOICES = '"input", "tool_input", "tool_output" and/or "output"'
"""The stages as an error message names them."""

_RANK = {"passed": 0, "modified": 1, "blocked": 2}


@dataclass(frozen=True, slots=True)
class _Conversation:
    """A conversation split into what each stage checks."""

    history: list[BaseMessage]
    """The context: every message but a last assistant message."""
    answer: BaseMessage | None
    """The last message when it is the assistant's (checked by the output stages)."""
    results: list[tuple[BaseMessage, dict[str, Any] | None]]
    """Tool results after the last assistant turn of ``history``, with the calls they answer."""

    @classmethod
    def of(cls, messages: Sequence[BaseMessage]) -> _Conversation:
        history = list(messages)
        answer = history.pop() if history and history[-1].type == "ai" else None
        last_turn = max((i for i, m in enumerate(history) if m.type == "ai"), default=-1)
        results = [(m, call) for i, m, call in tool_results(history) if i > last_turn]
        return cls(history, answer, results)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The tool calls of the assistant's answer."""
        return list(getattr(self.answer, "tool_calls", None) or [])

    def stages(self) -> list[str]:
        """The stages this conversation has: those of a request (the last user message, tool
        results not answered yet) or those of an answer (its tool calls, its text)."""
        if self.answer is not None:
            has_text = bool(self.answer.text) or not self.calls
            return [*(["tool_output"] if self.calls else []), *(["output"] if has_text else [])]
        has_user = any(m.type == "human" for m in self.history)
        return [*(["input"] if has_user else []), *(["tool_input"] if self.results else [])]

    def require(self, stages: Sequence[str]) -> None:
        """Raise ``ValueError`` naming what a requested stage needs and the conversation lacks."""
        if "output" in stages and self.answer is None:
            raise ValueError("checking output rails needs a last message with role 'assistant'")
        if "tool_output" in stages and not self.calls:
            raise ValueError(
                "checking tool_output rails needs a last message with role 'assistant' "
                "and tool_calls"
            )
        if "tool_input" in stages and not self.results:
            raise ValueError(
                "checking tool_input rails needs a message with role 'tool' after the last "
                "assistant message"
            )
        if "input" in stages and not any(m.type == "human" for m in self.history):
            raise ValueError("checking input rails needs a message with role 'user'")


async def run_checks(
    guarded: Guardrails,
    messages: Sequence[BaseMessage],
    stages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Check a conversation with the rails of ``guarded``, stage by stage, as a turn meets them.

    * ``input``: the input rails on the last user message;
    * ``tool_input``: ``rails.tool_input`` on each tool result after the last assistant turn
      (the results the next model call would read);
    * ``tool_output``: ``rails.tool_output`` on each tool call of a last assistant message;
    * ``output``: the output rails on the text of a last assistant message (the messages
      before it are its context).

    ``stages`` defaults to every stage the conversation has: for a conversation ending with an
    assistant message its tool calls and its text, otherwise the last user message and the
    tool results not answered yet. The first block stops the checks.

    Returns ``{"status", "content", "rail", "reason", "stage", "checks"}``: the overall status
    (``blocked`` if a check blocked, else ``modified`` if one rewrote, else ``passed``), the
    text of the last check run (or the refusal), and one entry per check run (one per tool
    result or tool call).

    Raises:
        ValueError: a requested stage has nothing to check in ``messages``.

    Example:
        .. code-block:: python

            result = await run_checks(guarded, [HumanMessage("Hi"), AIMessage("Hello!")])
            result["status"]  # "passed"
    """
    conversation = _Conversation.of(messages)
    chosen = conversation.stages() if stages is None else list(stages)
    conversation.require(chosen)
    runs: list[tuple[str, RailCheck]] = []
    for stage in STAGES:
        if stage in chosen:
            for check in _stage_checks(guarded, conversation, stage):
                runs.append((stage, await check))
                if runs[-1][1].status == "blocked":
                    return _report(runs)
    if not runs:
        raise ValueError(
            "the conversation has nothing to check: it needs a message with role 'user', "
            "'tool' or 'assistant'"
        )
    return _report(runs)


def _stage_checks(
    guarded: Guardrails, conversation: _Conversation, stage: str
) -> Iterator[Awaitable[RailCheck]]:
    """The checks of one stage, made one at a time: a block stops the rest before they exist."""
    history, answer = conversation.history, conversation.answer
    if stage == "input":
        yield guarded.acheck(history, stage="input")
    elif stage == "tool_input":
        for message, call in conversation.results:
            answered = call or {
                "name": getattr(message, "name", None),
                "args": None,
                "id": getattr(message, "tool_call_id", None),
            }
            yield guarded.acheck(
                history, output=message.text, stage="tool_input", tool_call=answered
            )
    elif stage == "tool_output":
        for call in conversation.calls:
            tool_call = {"name": call["name"], "args": call["args"], "id": call.get("id")}
            yield guarded.acheck(history, stage="tool_output", tool_call=tool_call)
    else:
        assert answer is not None  # checked by _Conversation.require
        yield guarded.acheck(history, output=answer.text, stage="output")


def _report(runs: list[tuple[str, RailCheck]]) -> dict[str, Any]:
    stage, deciding = max(runs, key=lambda run: _RANK[run[1].status])
    if deciding.status == "passed":
        stage, deciding = runs[-1]
    return {
        "status": deciding.status,
        "content": runs[-1][1].content if deciding.status != "blocked" else deciding.content,
        "rail": deciding.rail,
        "reason": deciding.reason,
        "stage": stage,
        "checks": [
            {
                "stage": stage,
                "status": check.status,
                "content": check.content,
                "rail": check.rail,
                "reason": check.reason,
                "metadata": check.metadata,
            }
            for stage, check in runs
        ],
    }


def add_checks_route(app: FastAPI, deps: RouteDeps) -> None:
    """Serve ``POST /v1/guardrail/checks`` on ``app``: a config's rails on a conversation,
    without the model."""

    @app.post("/v1/guardrail/checks", response_model=None)
    async def guardrail_checks(request: Request) -> Response:
        body = await request_json(request)
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object")
        config_id, model = body.get("config_id"), body.get("model")
        for key, value in (("config_id", config_id), ("model", model)):
            if value is not None and not isinstance(value, str):
                raise RequestError(f"{key} must be a string", param=key)
        messages = parse_messages(body.get("messages"))
        stages = body.get("rails")
        if stages is not None and (
            not isinstance(stages, list) or not set(stages) <= set(STAGES) or not stages
        ):
            raise RequestError(f"rails must be a non-empty array of {CHOICES}", param="rails")
        guarded, resolved = await deps.guardrails_for(config_id, model)
        try:
            gone, result = await cancel_on_disconnect(
                request.receive, lambda: run_checks(guarded, messages, stages)
            )
        except ValueError as exc:
            raise RequestError(str(exc), param="messages") from exc
        if gone or result is None:
            return Response(status_code=499)
        if result["status"] == "blocked":
            deciding = result["checks"][-1]["metadata"] or {
                "blocked": True,
                "stage": result["stage"],
                "rail": result["rail"],
            }
            # The resolved config id: `model` is any client string, never a metric label.
            record_outcome(deciding, resolved, request_id(request.scope), deps.metrics)
        return JSONBody(result)
