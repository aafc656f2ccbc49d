"""Content-safety rails: ``content safety check input|output $model=<type>`` (NemoGuard
style by default) and ``llama guard check input|output`` (Llama Guard style).

Default prompts ship in ``default_prompts.yml``; a ``prompts`` entry for the same task
(optionally ``task: content_safety_check_input $model=<type>``, as in NeMo Guardrails)
overrides them. Answers are read in every verdict format guard models use (see
:func:`~langchain_guardrails.rails.verdicts.safety`); violated categories go into the violation
metadata as ``categories``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Literal

import yaml
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from langchain_guardrails.config.actions import ActionSpec, RailResult
from langchain_guardrails.config.rails_config import RailsConfig, TaskPrompt
from langchain_guardrails.rails.languages import multilingual_refusal, require_language_id
from langchain_guardrails.rails.llm_rail import ALLOW, build_task, llm_action
from langchain_guardrails.rails.verdicts import Verdict, harm, safety

Stage = Literal["input", "output"]
Factory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]

_PARSERS = (
    None,
    "is_content_safe",
    "nemoguard_parse_prompt_safety",
    "nemoguard_parse_response_safety",
    "nemotron_content_safety_parse_prompt_safety",
    "nemotron_content_safety_parse_response_safety",
    "nemotron_reasoning_parse_prompt_safety",
    "nemotron_reasoning_parse_response_safety",
)
_VARIABLES = {
    "input": ("user_input", "reasoning_enabled"),
    "output": ("user_input", "bot_response", "reasoning_enabled"),
}


@functools.cache
def default_prompts() -> dict[str, TaskPrompt]:
    """The shipped default prompts, by task."""
    text = resources.files(__package__).joinpath("default_prompts.yml").read_text("utf-8")
    return {p["task"]: TaskPrompt(**p) for p in yaml.safe_load(text)["prompts"]}


def content_safety_check(stage: Stage) -> Factory:
    """Factory of ``content safety check <stage> $model=<type>``."""

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        return _safety_rail(
            config, params, f"content safety check {stage}", f"content_safety_check_{stage}", stage
        )

    return factory


def llama_guard_check(stage: Stage) -> Factory:
    """Factory of ``llama guard check <stage>`` (model type ``llama_guard`` unless ``$model``)."""

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        default = "llama_guard" if any(m.type == "llama_guard" for m in config.models) else None
        return _safety_rail(
            config,
            params,
            f"llama guard check {stage}",
            f"llama_guard_check_{stage}",
            stage,
            default_model_type=default,
            model_hint="llama_guard",
        )

    return factory


def _safety_rail(
    config: RailsConfig,
    params: Mapping[str, str],
    rail: str,
    task_name: str,
    stage: Stage,
    *,
    default_model_type: str | None = None,
    model_hint: str | None = None,
) -> ActionSpec:
    task = build_task(
        config,
        params,
        rail=rail,
        task=task_name,
        variables=_VARIABLES[stage],
        parsers=_PARSERS,
        defaults=(default_prompts()[task_name],),
        require_model=True,
        default_model_type=default_model_type,
        model_hint=model_hint,
    )
    # rails.config.content_safety.reasoning (NeMo): Nemotron safety prompts branch on it.
    reasoning = config.rails.config.content_safety.reasoning.enabled
    multilingual = config.rails.config.content_safety.multilingual
    if multilingual.enabled:
        require_language_id()

    async def body(
        text: str,
        user_message: str,
        messages: list[BaseMessage],
        rail_stage: str,
        model: Runnable[Any, Any],
        main: Runnable[Any, Any],
    ) -> RailResult:
        if not text.strip():
            return ALLOW
        values: dict[str, Any]
        if stage == "input":
            values = {"user_input": text if rail_stage in ("input", "tool_input") else user_message}
        else:
            values = {"user_input": user_message, "bot_response": text}
        values["reasoning_enabled"] = reasoning
        answer, prompt = await task.run(model, values, messages)
        verdict = _verdict(answer, prompt.output_parser, stage)
        if verdict.safe:
            return ALLOW
        # NeMo answers a content-safety block in the user's language when asked to.
        refusal = multilingual_refusal(multilingual, user_message or text)
        if verdict.safe is None:
            return RailResult(
                False,
                reason=f"{task_name}: {verdict.problem}; blocked to be safe",
                metadata={"task": task_name},
                refusal=refusal,
            )
        listed = f": {', '.join(verdict.categories)}" if verdict.categories else ""
        return RailResult(
            False,
            reason=f"{task_name}: unsafe{listed}",
            metadata={"task": task_name, "categories": list(verdict.categories)},
            refusal=refusal,
        )

    return llm_action(task, body, name=rail)


def _verdict(answer: str, parser: str | None, stage: Stage) -> Verdict:
    # Nemotron Content Safety Reasoning answers `Prompt harm: harmful|unharmful` lines.
    if parser is not None and parser.startswith("nemotron_reasoning_parse_"):
        return harm(answer, "Prompt harm" if "prompt_safety" in parser else "Response harm")
    return safety(answer, _field(parser, stage))


def _field(parser: str | None, stage: Stage) -> str:
    if parser is not None and "prompt_safety" in parser:
        return "User Safety"
    if parser is not None and "response_safety" in parser:
        return "Response Safety"
    return "User Safety" if stage == "input" else "Response Safety"


__all__ = ["content_safety_check", "default_prompts", "llama_guard_check"]
