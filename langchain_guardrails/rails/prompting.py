"""Task prompts for LLM rails: sandboxed Jinja2 rendering (NeMo Guardrails' variables and
filters), NeMo-style prompt choice by model, and the call that sends a rendered prompt to a
model as a child run of the rail.

Templates are rendered by a :class:`jinja2.sandbox.SandboxedEnvironment` with strict
undefined variables, as NeMo Guardrails renders them: ``{% if %}``, ``{% for %}``, filters
and expressions work. Rendering is bounded in time and size, and rails render off the
event loop (see :mod:`~langchain_guardrails.rails.bounded_render`). Every template is parsed
when the ``Guardrails`` object is built: a syntax error, an unknown filter or a variable the
task does not provide is a :class:`ConfigError` naming the prompt's task, never a surprise at
the first request.

Variables every task knows (besides its own, e.g. ``user_input``, ``bot_response``):

* ``config``: the config's ``rails.config`` settings as a mapping, as NeMo passes them
  (``{% if config.content_safety.reasoning.enabled %}/think{% endif %}``);
* ``general_instructions``: the first ``instructions`` entry of ``type: general`` (as NeMo);
* ``sample_conversation`` / ``sample_conversation_two_turns``: ``sample_conversation``;
* ``categories`` (never set), ``excluded_category_keys`` (empty) and ``bot_thinking`` (empty):
  see :data:`NEMO_OPTIONAL_VARIABLES`;
* ``history``: the conversation as NeMo events (``UserMessage`` / ``StartUtteranceBotAction``
  / ``SystemMessage``), for the filters ``user_assistant_sequence`` and ``to_chat_messages``.

Filters: Jinja's built-ins plus NeMo's ``user_assistant_sequence``, ``to_chat_messages`` and
``indent``. NeMo's Colang filters (``colang``, ``to_messages``, ``first_turns``, ...) work on a
Colang history, which dialog rails produce; they are refused with a message saying so.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable

from langchain_guardrails.config.nemo_actions import history_events
from langchain_guardrails.config.rails_config import RailsConfig, TaskPrompt
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.bounded_render import (
    BoundedSandbox,
    render_bounded,
    render_off_loop,
)

COMMON_VARIABLES = (
    "config",
    "general_instructions",
    "history",
    "sample_conversation",
    "sample_conversation_two_turns",
)
"""Variables every task prompt may use (see the module docstring)."""

NEMO_OPTIONAL_VARIABLES = ("bot_thinking", "categories", "excluded_category_keys")
"""Variables NeMo's shipped prompts test or read without every task setting them:
``categories`` is never set (prompts define a default under ``{% if categories is not
defined %}``), ``excluded_category_keys`` is an empty list, and ``bot_thinking`` is empty: the
model's reasoning is checked by the output rails in its own windows (``rails.output.reasoning:
check``), not quoted into the answer's check."""

COLANG_FILTERS = frozenset(
    {
        "colang",
        "co_v2",
        "colang_without_identifiers",
        "remove_text_messages",
        "first_turns",
        "last_turns",
        "to_messages",
        "to_messages_v2",
        "to_intent_messages",
        "to_intent_messages_2",
        "verbose_v1",
    }
)
"""NeMo filters over a Colang history (dialog rails): refused with a clear message."""


def user_assistant_sequence(events: Iterable[Mapping[str, Any]]) -> str:
    """NeMo's filter: ``User: ...`` / ``Assistant: ...`` lines."""
    lines = []
    for event in events:
        if event.get("type") == "UserMessage":
            lines.append(f"User: {event.get('text', '')}")
        elif event.get("type") == "StartUtteranceBotAction":
            lines.append(f"Assistant: {event.get('script', '')}")
    return "\n".join(lines)


def to_chat_messages(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """NeMo's filter: ``{"role", "content"}`` dicts for user, assistant and system events."""
    out: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("type")
        if kind == "UserMessage":
            out.append({"role": "user", "content": event.get("text", "")})
        elif kind == "StartUtteranceBotAction":
            out.append({"role": "assistant", "content": event.get("script", "")})
        elif kind == "SystemMessage" and "content" in event:
            out.append({"role": "system", "content": event["content"]})
    return out


def indent(text: str, n_spaces: int) -> str:
    """NeMo's filter: indent every line by ``n_spaces``."""
    return textwrap.indent(text, " " * n_spaces)


@functools.cache
def environment() -> BoundedSandbox:
    """The shared sandboxed environment (stateless once built; safe to share)."""
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False)
    env.filters["user_assistant_sequence"] = user_assistant_sequence
    env.filters["to_chat_messages"] = to_chat_messages
    env.filters["indent"] = indent
    return env


def _filters_used(tree: nodes.Template) -> set[str]:
    return {node.name for node in tree.find_all(nodes.Filter)}


class Template:
    """A prompt template, parsed and compiled once; rendering is sandboxed.

    Example:
        .. code-block:: python

            Template("Is this ok? {{ user_input }}").render({"user_input": "hi"})
    """

    __slots__ = ("source", "template", "variables")

    def __init__(self, source: str) -> None:
        env = environment()
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            raise ValueError(f"template syntax error on line {exc.lineno}: {exc.message}") from exc
        unknown = sorted(_filters_used(tree) - set(env.filters))
        if unknown:
            name = unknown[0]
            why = (
                "is a Colang (dialog rails) filter, which needs a Colang history"
                if name in COLANG_FILTERS
                else "is not a known filter"
            )
            raise ValueError(
                f"filter {name!r} {why}; available NeMo filters: indent, to_chat_messages, "
                "user_assistant_sequence (and Jinja's built-in filters)"
            )
        self.source = source
        self.template = env.from_string(tree)
        self.variables = frozenset(meta.find_undeclared_variables(tree))

    def render(self, values: Mapping[str, Any]) -> str:
        """The rendered text; a variable without a value raises ``jinja2.UndefinedError``, a
        render over its time or size bounds ``RenderLimitError``."""
        full = dict(values)
        return render_bounded(lambda: self.template.generate(full))


@dataclass(frozen=True, slots=True)
class PreparedPrompt:
    """A ``prompts`` entry, parsed once: one template per message."""

    prompt: TaskPrompt
    messages: tuple[tuple[str, Template], ...]
    """``(role, template)`` pairs; a ``content`` prompt is one user message."""
    context: Mapping[str, Any] = field(default_factory=dict)
    """Values from the config every render gets (``general_instructions``, ...)."""

    @property
    def variables(self) -> frozenset[str]:
        """Every variable the prompt's templates use."""
        return frozenset().union(*(t.variables for _, t in self.messages))

    def render(
        self, values: Mapping[str, Any], messages: Sequence[BaseMessage] = ()
    ) -> list[BaseMessage]:
        """The chat messages to send; ``messages`` (the conversation) fill ``history``.

        A render error (e.g. a filter given a value it cannot take) is a ``ValueError``
        naming the task; it never carries the values.
        """
        full = {**self.context, **values}
        if "history" in self.variables and "history" not in values:
            full["history"] = history_events(messages)
        try:
            return [_MESSAGE[role](content=t.render(full)) for role, t in self.messages]
        except (TemplateError, MemoryError, RecursionError) as exc:
            raise ValueError(
                f"prompt for task {self.prompt.task!r} could not be rendered: {type(exc).__name__}"
            ) from exc

    async def arender(
        self, values: Mapping[str, Any], messages: Sequence[BaseMessage] = ()
    ) -> list[BaseMessage]:
        """:meth:`render` in a worker thread: a slow template never holds the event loop."""
        return await render_off_loop(self.render, values=values, messages=messages)


_MESSAGE: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "human": HumanMessage,
    "assistant": AIMessage,
    "bot": AIMessage,
    "ai": AIMessage,
}


def task_key(task: str) -> tuple[str, frozenset[tuple[str, str]]]:
    """Split a task and its ``$`` parameters: ``"t $model=x"`` -> ``("t", {("model", "x")})``."""
    name, _, rest = task.partition("$")
    params = set()
    for token in rest.split("$") if rest else ():
        key, _, value = token.strip().partition("=")
        params.add((key.strip(), value.strip().strip("\"'")))
    return name.strip(), frozenset(params)


def prompt_context(config: RailsConfig | None) -> dict[str, Any]:
    """The config's values of :data:`COMMON_VARIABLES` (``history`` comes per call)."""
    general = ""
    sample = ""
    settings: dict[str, Any] = {}
    if config is not None:
        general = next((i.content for i in config.instructions if i.type == "general"), "")
        sample = config.sample_conversation or ""
        settings = config.rails.config.model_dump()
    return {
        "bot_thinking": "",
        "excluded_category_keys": [],
        "config": settings,
        "general_instructions": general,
        "sample_conversation": sample,
        "sample_conversation_two_turns": sample,
    }


def prepare(
    prompt: TaskPrompt,
    allowed: Iterable[str],
    where: str,
    *,
    context: Mapping[str, Any] | None = None,
) -> PreparedPrompt:
    """Parse ``prompt`` and check that it only uses ``allowed`` variables (and the
    :data:`COMMON_VARIABLES`, whose config values come in ``context``)."""
    own = set(allowed)
    known = sorted(own | set(COMMON_VARIABLES) | set(NEMO_OPTIONAL_VARIABLES))
    sources: list[tuple[str, str]]
    if prompt.content is not None:
        sources = [("user", prompt.content)]
    else:
        sources = []
        for index, message in enumerate(prompt.messages or ()):
            role = str(message.get("type") or message.get("role") or "")
            if role not in _MESSAGE or not isinstance(message.get("content"), str):
                raise ConfigError(
                    f"{where}: prompt for task {prompt.task!r}, messages[{index}]: needs "
                    f"`type` ({', '.join(_MESSAGE)}) and a string `content`"
                )
            sources.append((role, message["content"]))
    prepared = []
    for role, source in sources:
        try:
            template = Template(source)
        except ValueError as exc:
            raise ConfigError(f"{where}: prompt for task {prompt.task!r}: {exc}") from exc
        unknown = sorted(template.variables - set(known))
        if unknown:
            raise ConfigError(
                f"{where}: prompt for task {prompt.task!r} uses unknown variable "
                f"{{{{ {unknown[0]} }}}}; this task knows: {', '.join(sorted(own))} "
                f"(and {', '.join(COMMON_VARIABLES)})"
            )
        prepared.append((role, template))
    return PreparedPrompt(prompt, tuple(prepared), dict(context or prompt_context(None)))


def prompt_score(prompt: TaskPrompt, model_id: str | None) -> float:
    """How well ``prompt`` fits the model, as NeMo Guardrails scores it (0 = does not apply).

    Unrestricted prompts score 0.2; a ``models`` entry equal to ``engine/model`` scores 1,
    one equal to the model name 0.8, one equal to the engine (provider) 0.5.
    """
    if not prompt.models:
        return 0.2
    if model_id is None:
        return 0.0
    best = 0.0
    for entry in prompt.models:
        if entry == model_id:
            return 1.0
        if model_id.endswith("/" + entry):
            best = max(best, 0.8)
        elif model_id.startswith(entry + "/"):
            best = max(best, 0.5)
    return best


def choose(prompts: Sequence[PreparedPrompt], model_id: str | None) -> PreparedPrompt | None:
    """The best-scoring prompt; on a tie the later one (user prompts come after defaults)."""
    chosen, best = None, 0.0
    for prepared in prompts:
        score = prompt_score(prepared.prompt, model_id)
        if score > 0 and score >= best:
            chosen, best = prepared, score
    return chosen


def config_model_id(config: RailsConfig, model_type: str) -> str | None:
    """``engine/model`` of a ``models`` entry (NeMo's model id for prompt choice)."""
    entry = next((m for m in config.models if m.type == model_type), None)
    if entry is None:
        return None
    name = entry.model or entry.parameters.get("model") or entry.parameters.get("model_name")
    return f"{entry.engine}/{name}" if name else entry.engine


def runtime_model_id(llm: Runnable[Any, Any]) -> str | None:
    """``provider/model`` of a model object, from LangChain's tracing parameters."""
    model = getattr(llm, "bound", llm)
    get_params = getattr(model, "_get_ls_params", None)
    if get_params is None:
        return None
    try:
        params = get_params()
    except Exception:  # a provider's own helper; prompt choice must not fail on it
        return None
    provider, name = params.get("ls_provider"), params.get("ls_model_name")
    if provider and name:
        return f"{provider}/{name}"
    return str(provider or name) if provider or name else None


async def ask(
    llm: Runnable[Any, Any],
    messages: list[BaseMessage],
    *,
    task: str,
    stop: Sequence[str] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> str:
    """Send ``messages`` to ``llm`` as a child run named ``task``; the answer's text.

    ``temperature`` (the config's ``lowest_temperature``) is sent as a call keyword, which
    provider chat models put in the request, as NeMo does for its rails' LLM tasks.
    """
    kwargs: dict[str, Any] = {}
    if stop:
        kwargs["stop"] = list(stop)
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    # The engine tags the rail's run (and so this call) with the rail name; the run name says
    # which task it was, as NeMo Guardrails' LLM call log does.
    tagged = llm.with_config(run_name=task, metadata={"guardrails_task": task})
    answer = await tagged.ainvoke(messages, **kwargs)
    if isinstance(answer, str):
        return answer
    text = getattr(answer, "text", None)
    return text if isinstance(text, str) else str(getattr(answer, "content", answer))


__all__ = [
    "COLANG_FILTERS",
    "COMMON_VARIABLES",
    "NEMO_OPTIONAL_VARIABLES",
    "PreparedPrompt",
    "Template",
    "ask",
    "choose",
    "config_model_id",
    "history_events",
    "indent",
    "prepare",
    "prompt_context",
    "prompt_score",
    "runtime_model_id",
    "task_key",
    "to_chat_messages",
    "user_assistant_sequence",
]
