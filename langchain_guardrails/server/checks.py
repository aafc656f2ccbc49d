"""Run only the rails of a config on a conversation (for model calls made elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from ..results import RailCheck
from ..runnable import Guardrails

_RANK = {"passed": 0, "modified": 1, "blocked": 2}


async def run_checks(
    guarded: Guardrails,
    messages: Sequence[BaseMessage],
    stages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Check a conversation with the input and/or output rails of ``guarded``.

    When the conversation ends with an assistant message, that message is the output under
    check and the messages before it are its context; otherwise the last user message is the
    input under check. ``stages`` defaults to ``["output"]`` for the former and ``["input"]``
    for the latter; ``["input", "output"]`` checks both (the output only if the input passed).

    Returns ``{"status", "content", "rail", "reason", "stage", "checks"}``: the overall status
    (``blocked`` if a stage blocked, else ``modified`` if a stage rewrote, else ``passed``), the
    text of the last stage run (or the refusal), and one entry per stage run.

    Example:
        .. code-block:: python

            result = await run_checks(guarded, [HumanMessage("Hi"), AIMessage("Hello!")])
            result["status"]  # "passed"
    """
    history = list(messages)
    output: str | None = None
    if history and history[-1].type == "ai":
        output = history.pop().text
    if stages is None:
        stages = ["output"] if output is not None else ["input"]
    if "output" in stages and output is None:
        raise ValueError("checking output rails needs a last message with role 'assistant'")
    if "input" in stages and not any(m.type == "human" for m in history):
        raise ValueError("checking input rails needs a message with role 'user'")
    runs: list[tuple[str, RailCheck]] = []
    for stage in ("input", "output"):
        if stage not in stages:
            continue
        check = await guarded.acheck(history, output=output if stage == "output" else None)
        runs.append((stage, check))
        if check.status == "blocked":
            break
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
