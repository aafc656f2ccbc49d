"""LLM self-checks: ``self check input``, ``self check output``, ``self check facts`` and
``self check hallucination`` (NeMo Guardrails' tasks, prompts from ``prompts``).

* ``self_check_input`` (``{{ user_input }}``): blocks when the model answers Yes;
* ``self_check_output`` (``{{ user_input }}``, ``{{ bot_response }}``): blocks on Yes;
* ``self_check_facts`` (``{{ evidence }}``, ``{{ response }}`` = ``{{ bot_response }}``):
  blocks on No;
* ``self_check_hallucination`` (``{{ paragraph }}``, ``{{ statement }}`` =
  ``{{ bot_response }}``): blocks on No.

An answer without a readable verdict blocks, and the reason says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from langchain_guardrails.config.actions import ActionSpec, RailResult
from langchain_guardrails.config.rails_config import RailsConfig, TaskPrompt
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.llm_rail import ALLOW, LlmTask, build_task, llm_action
from langchain_guardrails.rails.prompting import ask
from langchain_guardrails.rails.verdicts import YesNo, safety, yes_no

_PARSERS = (None, "is_content_safe")
_SAMPLE = "self_check_hallucination_sample"
_EXPLAIN = {
    "self_check_facts": "the response is not supported by the evidence",
    "self_check_hallucination": "the response disagrees with other samples of the model",
}


def self_check_input(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
    """``self check input``: ask the model whether the user message must be blocked."""
    task = _task(config, params, "self check input", "self_check_input", ("user_input",))

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
        values = {"user_input": text if stage in ("input", "tool_input") else user_message}
        answer, prompt = await task.run(model, values, messages)
        return judge(task.task, answer, prompt, block_on="yes", field="User Safety")

    return llm_action(task, body, name="self check input")


def self_check_output(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
    """``self check output``: ask the model whether the response (window) must be blocked."""
    variables = ("user_input", "bot_response")
    task = _task(config, params, "self check output", "self_check_output", variables)

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
        answer, prompt = await task.run(
            model, {"user_input": user_message, "bot_response": text}, messages
        )
        return judge(task.task, answer, prompt, block_on="yes", field="Response Safety")

    return llm_action(task, body, name="self check output")


def self_check_facts(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
    """``self check facts``: is the response supported by the evidence in the conversation?

    The evidence is the text of the system and tool messages (where RAG chains and agents put
    retrieved documents). Without evidence there is nothing to check against and the rail
    allows, as in NeMo Guardrails.
    """
    variables = ("evidence", "response", "bot_response", "user_input")
    task = _task(config, params, "self check facts", "self_check_facts", variables)

    async def body(
        text: str,
        user_message: str,
        messages: list[BaseMessage],
        stage: str,
        model: Runnable[Any, Any],
        main: Runnable[Any, Any],
    ) -> RailResult:
        evidence = evidence_of(messages)
        if not evidence or not text.strip():
            return ALLOW
        values = {
            "evidence": evidence,
            "response": text,
            "bot_response": text,
            "user_input": user_message,
        }
        answer, prompt = await task.run(model, values, messages)
        return judge(task.task, answer, prompt, block_on="no")

    return llm_action(task, body, name="self check facts")


def self_check_hallucination(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
    """``self check hallucination [$samples=2]``: sample the main model again and ask whether
    the response agrees with the samples (SelfCheckGPT, as NeMo Guardrails does).

    Costs ``samples + 1`` model calls per check (per window when streaming).
    """
    variables = ("statement", "paragraph", "bot_response", "user_input")
    task = _task(
        config,
        params,
        "self check hallucination",
        "self_check_hallucination",
        variables,
        extra_params=("samples",),
    )
    samples = _samples(params.get("samples", "2"))

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
        calls = [ask(main, messages, task=_SAMPLE) for _ in range(samples)]
        extra = await asyncio.gather(*calls)
        paragraph = ". ".join(s.strip() for s in extra if s.strip())
        if not paragraph:
            return ALLOW
        values = {
            "statement": text,
            "paragraph": paragraph,
            "bot_response": text,
            "user_input": user_message,
        }
        answer, used = await task.run(model, values, messages)
        return judge(task.task, answer, used, block_on="no")

    return llm_action(task, body, name="self check hallucination")


def judge(
    task: str, answer: str, prompt: TaskPrompt, *, block_on: YesNo, field: str = "User Safety"
) -> RailResult:
    """Turn a Yes/No answer into a rail result; an unreadable answer blocks and says why.

    When Yes blocks (self check input / output), a ``safe`` / ``unsafe`` answer is a verdict
    too, as in NeMo; a prompt with ``output_parser: is_content_safe`` reads safety first.
    """
    if prompt.output_parser == "is_content_safe" and block_on == "yes":
        verdict = safety(answer, field)
        if verdict.safe is None:
            return _unreadable(task, verdict.problem or "")
        if verdict.safe:
            return ALLOW
        return RailResult(
            False, reason=f"{task}: the model judged it unsafe", metadata={"task": task}
        )
    decision, why = yes_no(answer)
    if decision is None and block_on == "yes":
        # NeMo reads every self-check answer with is_content_safe, so `safe` / `unsafe`
        # (what many guard-tuned models answer) are verdicts there: here too.
        verdict = safety(answer, field)
        if verdict.safe is not None:
            if verdict.safe:
                return ALLOW
            return RailResult(
                False, reason=f"{task}: the model answered Unsafe", metadata={"task": task}
            )
    if decision is None:
        return _unreadable(task, why or "")
    if decision != block_on:
        return ALLOW
    explain = _EXPLAIN.get(task)
    reason = f"{task}: the model answered {decision.capitalize()}" + (
        f" ({explain})" if explain else ""
    )
    return RailResult(False, reason=reason, metadata={"task": task})


def evidence_of(messages: list[BaseMessage]) -> str:
    """The grounding text of a conversation: its system and tool messages."""
    return "\n\n".join(
        m.text.strip() for m in messages if m.type in ("system", "tool") and m.text.strip()
    )


def _unreadable(task: str, why: str) -> RailResult:
    return RailResult(False, reason=f"{task}: {why}; blocked to be safe", metadata={"task": task})


def _task(
    config: RailsConfig,
    params: Mapping[str, str],
    rail: str,
    task: str,
    variables: tuple[str, ...],
    extra_params: tuple[str, ...] = (),
) -> LlmTask:
    return build_task(
        config,
        params,
        rail=rail,
        task=task,
        variables=variables,
        parsers=_PARSERS,
        extra_params=extra_params,
    )


def _samples(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= 10:
        raise ConfigError(
            f"'self check hallucination': $samples must be a whole number from 1 to 10 "
            f"(got {value!r})"
        )
    return count


__all__ = [
    "evidence_of",
    "judge",
    "self_check_facts",
    "self_check_hallucination",
    "self_check_input",
    "self_check_output",
]
