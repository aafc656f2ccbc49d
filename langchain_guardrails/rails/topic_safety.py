"""``topic safety check input $model=<type>``: NeMo Guardrails' topic-control rail.

As in NeMo, the task prompt (``topic_safety_check_input $model=<type>``) is the **system
message** of the check, followed by the conversation (user and assistant turns) and the user
message under check; NeMo's output restriction is appended to the system message when the
prompt does not end with it. The model answers ``on-topic`` or ``off-topic``; ``off-topic``
blocks. As in NeMo, any other answer lets the message through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable

from langchain_guardrails.config.actions import ActionSpec, RailResult
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.rails.llm_rail import ALLOW, build_task, llm_action
from langchain_guardrails.rails.prompting import ask

RAIL = "topic safety check input"
TASK = "topic_safety_check_input"
OUTPUT_RESTRICTION = (
    'If any of the above conditions are violated, please respond with "off-topic". '
    'Otherwise, respond with "on-topic". '
    'You must respond with "on-topic" or "off-topic".'
)
"""NeMo's sentence that tells the model how to answer."""
MAX_TOKENS = 10
"""NeMo's default answer budget for this task."""


def _conversation(messages: list[BaseMessage]) -> list[BaseMessage]:
    """User and assistant turns before the message under check (system messages left out)."""
    turns = [m for m in messages if m.type in ("human", "ai")]
    if turns and turns[-1].type == "human":
        turns = turns[:-1]
    return [HumanMessage(m.text) if m.type == "human" else AIMessage(m.text) for m in turns]


def topic_safety_check_input(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
    """Factory of ``topic safety check input $model=<type>``."""
    task = build_task(
        config,
        params,
        rail=RAIL,
        task=TASK,
        variables=(),
        parsers=(None,),
        require_model=True,
    )

    async def body(
        text: str,
        user_message: str,
        messages: list[BaseMessage],
        stage: str,
        model: Runnable[Any, Any],
        main: Runnable[Any, Any],
    ) -> RailResult:
        if not text.strip():
            return ALLOW
        prepared = task.prompt_for(model)
        system = "\n".join(m.text for m in await prepared.arender({}, messages)).strip()
        if not system.endswith(OUTPUT_RESTRICTION):
            system = f"{system}\n\n{OUTPUT_RESTRICTION}"
        check = [SystemMessage(system), *_conversation(messages), HumanMessage(text)]
        prompt = prepared.prompt
        answer = await ask(
            model,
            check,
            task=TASK,
            stop=prompt.stop,
            max_tokens=prompt.max_tokens or MAX_TOKENS,
            temperature=task.temperature,
        )
        if answer.strip().lower() != "off-topic":
            return ALLOW
        return RailResult(False, reason=f"{TASK}: off-topic", metadata={"task": TASK})

    return llm_action(task, body, name=RAIL)


__all__ = ["OUTPUT_RESTRICTION", "topic_safety_check_input"]
