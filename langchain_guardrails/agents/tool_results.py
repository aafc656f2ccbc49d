"""Tool results as :class:`~langchain_guardrails.agents.middleware.GuardrailsMiddleware` checks
them: the content and the artifact (``@tool(response_format="content_and_artifact")``) of each
``ToolMessage`` a tool returned, and the result rewritten by the decisions.

An artifact never reaches the model, but it enters the agent's state, every stream mode and the
checkpoint history, so ``rails.tool_input`` checks it like the content, in canonical form (a
JSON string decoded, any other value as its JSON text)
(:func:`~langchain_guardrails.engine.canonical.check_json_text`).
"""

from __future__ import annotations

import json
from typing import Any, cast

from langchain_core.messages import ToolMessage
from langgraph.types import Command

from langchain_guardrails.engine.canonical import check_json_text
from langchain_guardrails.engine.results import RailCheck

ToolResult = ToolMessage | Command[Any]


def tool_messages(result: ToolResult) -> list[ToolMessage]:
    """The tool results in what a tool returned (a ``Command`` may carry some in its update)."""
    if isinstance(result, ToolMessage):
        return [result]
    update = result.update
    if isinstance(update, dict):
        return [m for m in update.get("messages", ()) if isinstance(m, ToolMessage)]
    return []


def checked_texts(result: ToolResult) -> list[tuple[ToolMessage, str, bool]]:
    """``(message, text, is_artifact)`` for each text ``rails.tool_input`` checks."""
    texts: list[tuple[ToolMessage, str, bool]] = []
    for message in tool_messages(result):
        texts.append((message, message.text, False))
        if message.artifact is not None:
            texts.append((message, artifact_text(message.artifact), True))
    return texts


def artifact_text(artifact: Any) -> str:
    """The checked text of an artifact: a string (decoded when it is JSON text), anything else
    as its canonical JSON (values JSON cannot hold appear as their ``str``, as a consumer
    printing them sees them)."""
    if isinstance(artifact, str):
        return check_json_text(artifact)
    return check_json_text(json.dumps(artifact, ensure_ascii=False, default=str))


def first_block(checks: list[RailCheck]) -> RailCheck | None:
    return next((check for check in checks if check.status == "blocked"), None)


def rewritten(
    result: ToolResult, texts: list[tuple[ToolMessage, str, bool]], checks: list[RailCheck]
) -> ToolResult:
    """``result`` with each masked content or artifact replaced by its rewrite (copies)."""
    updates: dict[int, dict[str, Any]] = {}
    for (message, _, is_artifact), check in zip(texts, checks, strict=True):
        if check.status != "modified":
            continue
        update = updates.setdefault(id(message), {})
        if is_artifact:
            update["artifact"] = _artifact_rewrite(message.artifact, check.content)
        else:
            update["content"] = check.content
    if not updates:
        return result
    if isinstance(result, ToolMessage):
        return result.model_copy(update=updates[id(result)])
    update = dict(cast("dict[str, Any]", result.update))
    update["messages"] = [
        m.model_copy(update=updates[id(m)]) if id(m) in updates else m for m in update["messages"]
    ]
    return Command(graph=result.graph, update=update, resume=result.resume, goto=result.goto)


def _artifact_rewrite(original: Any, rewrite: str) -> Any:
    # A structured artifact keeps its structure when the rewrite is still JSON.
    if isinstance(original, str):
        return rewrite
    try:
        return json.loads(rewrite)
    except ValueError:
        return rewrite
