"""What every LLM rail shares: its model (main or ``$model=<type>``), its task prompts, and the
action that calls the model as a child run of the rail.

Everything that can be wrong in the config (unknown model type, missing prompt, unknown prompt
variable or parser, unknown ``$`` parameter) is a :class:`ConfigError` when the ``Guardrails``
object is built, never a surprise at the first request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.rails_config import RailsConfig, TaskPrompt
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.prompting import (
    PreparedPrompt,
    ask,
    choose,
    config_model_id,
    prepare,
    prompt_context,
    runtime_model_id,
    task_key,
)

ALLOW = RailResult(allowed=True)

Body = Callable[
    [str, str, list[BaseMessage], str, Runnable[Any, Any], Runnable[Any, Any]],
    Awaitable[RailResult],
]
"""``(text, user_message, messages, stage, task_model, main_model) -> RailResult``."""


@dataclass(frozen=True, slots=True)
class LlmTask:
    """One rail's LLM task: which prompt to render and which model to send it to."""

    task: str
    """The prompt task, e.g. ``self_check_input``."""
    prompts: tuple[PreparedPrompt, ...]
    model_type: str | None
    """``models`` type named by ``$model``; None for the main model."""
    model_id: str | None
    """``engine/model`` when the config names the model; else read from the model object."""
    temperature: float | None = None
    """The config's ``lowest_temperature`` (NeMo's key), sent with every call of the task;
    None sends none (the model's own temperature)."""

    def prompt_for(self, llm: Runnable[Any, Any]) -> PreparedPrompt:
        """The prompt that applies to ``llm`` (the ``models:`` restriction of each prompt)."""
        model_id = self.model_id or runtime_model_id(llm)
        chosen = choose(self.prompts, model_id)
        if chosen is None:
            raise LookupError(_no_prompt_for_model(self.task, model_id, self.prompts))
        return chosen

    async def run(
        self,
        llm: Runnable[Any, Any],
        values: Mapping[str, Any],
        conversation: Sequence[BaseMessage] = (),
    ) -> tuple[str, TaskPrompt]:
        """Render the prompt with ``values`` (``conversation`` fills ``{{ history }}``), ask
        ``llm``; the answer text and the prompt used."""
        prepared = self.prompt_for(llm)
        messages = await prepared.arender(values, conversation)
        prompt = prepared.prompt
        answer = await ask(
            llm,
            messages,
            task=self.task,
            stop=prompt.stop,
            max_tokens=prompt.max_tokens,
            temperature=self.temperature,
        )
        return answer, prompt


def build_task(
    config: RailsConfig,
    params: Mapping[str, str],
    *,
    rail: str,
    task: str,
    variables: Collection[str],
    parsers: Collection[str | None],
    defaults: Sequence[TaskPrompt] = (),
    require_model: bool = False,
    default_model_type: str | None = None,
    model_hint: str | None = None,
    extra_params: Collection[str] = (),
) -> LlmTask:
    """Validate a rail's config and resolve its model and prompts (see module docstring)."""
    unknown = sorted(set(params) - {"model", *extra_params})
    if unknown:
        known = ", ".join(f"${p}" for p in ("model", *extra_params))
        raise ConfigError(f"{rail!r}: unknown parameter ${unknown[0]}; known parameters: {known}")
    model_type = params.get("model") or default_model_type
    types = [m.type for m in config.models]
    if model_type is None and require_model:
        need = (
            f"a `models` entry of type {model_hint} (or $model=<type> naming another entry)"
            if model_hint
            else f"$model=<type> naming a `models` entry, e.g. `{rail} $model=content_safety`"
        )
        raise ConfigError(
            f"{rail!r} needs {need}" + (f"; configured types: {', '.join(types)}" if types else "")
        )
    if model_type is not None and model_type != "main" and model_type not in types:
        raise ConfigError(
            f"{rail!r}: no `models` entry with type {model_type!r}"
            + (f"; configured types: {', '.join(types)}" if types else "; `models` is empty")
        )
    resolved_type = None if model_type in (None, "main") else model_type
    model_id = config_model_id(config, resolved_type or "main")
    where = f"{rail!r}"
    matching = [p for p in config.prompts if _same_task(p.task, task, model_type)]
    if not defaults and not matching:
        raise ConfigError(
            f"{rail!r} needs a prompt for task {task!r}: add `- task: {task}` with a `content` "
            f"using {', '.join('{{ ' + v + ' }}' for v in sorted(variables))} to `prompts`"
        )
    context = prompt_context(config)
    prepared = tuple(prepare(p, variables, where, context=context) for p in (*defaults, *matching))
    for item in prepared:
        if item.prompt.output_parser not in parsers:
            names = ", ".join(sorted(p for p in parsers if p))
            raise ConfigError(
                f"{where}: prompt for task {item.prompt.task!r}: unknown output_parser "
                f"{item.prompt.output_parser!r}; supported: {names or 'none'}"
            )
    if model_id is not None and choose(prepared, model_id) is None:
        raise ConfigError(f"{where}: {_no_prompt_for_model(task, model_id, prepared)}")
    return LlmTask(task, prepared, resolved_type, model_id, config.lowest_temperature)


def llm_action(task: LlmTask, body: Body, *, name: str) -> ActionSpec:
    """The action of an LLM rail: injects the task's model (main or ``$model``) into ``body``."""
    model_type = task.model_type
    if model_type is None:

        async def check_main(
            text: str,
            user_message: str,
            messages: list[BaseMessage],
            stage: str,
            llm: Runnable[Any, Any] | None,
        ) -> RailResult:
            main = _require_main(llm, name)
            return await body(text, user_message, messages, stage, main, main)

        return build_spec(check_main, name=name)

    async def check_typed(
        text: str,
        user_message: str,
        messages: list[BaseMessage],
        stage: str,
        llm: Runnable[Any, Any] | None,
        llms: Mapping[str, Runnable[Any, Any]],
    ) -> RailResult:
        main = _require_main(llm, name)
        return await body(text, user_message, messages, stage, llms[model_type], main)

    return build_spec(check_typed, name=name)


def _require_main(llm: Runnable[Any, Any] | None, rail: str) -> Runnable[Any, Any]:
    if llm is None:
        raise RuntimeError(f"{rail!r} needs a model, and this Guardrails object has none")
    return llm


def _same_task(prompt_task: str, task: str, model_type: str | None) -> bool:
    name, params = task_key(prompt_task)
    if name != task:
        return False
    return not params or params == {("model", model_type or "main")}


def _no_prompt_for_model(task: str, model_id: str | None, prompts: Sequence[PreparedPrompt]) -> str:
    restricted = sorted({m for p in prompts for m in p.prompt.models or ()})
    return (
        f"no prompt for task {task!r} applies to model {model_id or '<unknown>'!s}; "
        f"the prompts are restricted to models: {', '.join(restricted)}"
    )


__all__ = ["ALLOW", "Body", "LlmTask", "build_task", "llm_action"]
