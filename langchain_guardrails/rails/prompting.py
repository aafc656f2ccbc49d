"""Task prompts for LLM rails: a tiny ``{{ variable }}`` renderer, NeMo-style prompt choice by
model, and the call that sends a rendered prompt to a model as a child run of the rail.

Only Jinja's variable syntax is supported (``{{ name }}``, ``{{- name -}}``, ``{# comments #}``);
a template with statements (``{% ... %}``) or filters is a config error, so a prompt never
renders differently here than the author expects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable

from ..config import RailsConfig, TaskPrompt
from ..errors import ConfigError

_TAG = re.compile(r"\{\{(-?)(.*?)(-?)\}\}|\{#.*?#\}|\{%.*?%\}", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Template:
    """A parsed prompt template: literal parts and variable names, rendered by joining.

    Example:
        .. code-block:: python

            Template("Is this ok? {{ user_input }}").render({"user_input": "hi"})
    """

    __slots__ = ("parts", "variables")

    def __init__(self, source: str) -> None:
        # Jinja drops one trailing newline (keep_trailing_newline=False); so do we, so that a
        # YAML block scalar renders as it does in NeMo Guardrails.
        source = source.removesuffix("\n")
        parts: list[tuple[bool, str]] = []  # (is_variable, literal text or variable name)
        position = 0
        trim_next = False
        for match in _TAG.finditer(source):
            literal = source[position : match.start()]
            if trim_next:
                literal = literal.lstrip()
            token = match.group(0)
            if token.startswith("{%"):
                raise ValueError(
                    f"Jinja statements are not supported (found {token[:40]!r}); "
                    "use only {{ variable }}"
                )
            if token.startswith("{#"):
                parts.append((False, literal))
                trim_next = False
            else:
                name = match.group(2).strip()
                if not _NAME.fullmatch(name):
                    raise ValueError(
                        f"only plain variables are supported in prompts, not {token!r} "
                        "(no filters or expressions)"
                    )
                parts.append((False, literal.rstrip() if match.group(1) else literal))
                parts.append((True, name))
                trim_next = bool(match.group(3))
            position = match.end()
        tail = source[position:]
        parts.append((False, tail.lstrip() if trim_next else tail))
        self.parts = tuple(p for p in parts if p[0] or p[1])
        self.variables = frozenset(name for is_var, name in self.parts if is_var)

    def render(self, values: Mapping[str, str]) -> str:
        """The template with each variable replaced by ``values[name]``."""
        return "".join(values[text] if is_var else text for is_var, text in self.parts)


@dataclass(frozen=True, slots=True)
class PreparedPrompt:
    """A ``prompts`` entry, parsed once: one template per message."""

    prompt: TaskPrompt
    messages: tuple[tuple[str, Template], ...]
    """``(role, template)`` pairs; a ``content`` prompt is one user message."""

    def render(self, values: Mapping[str, str]) -> list[BaseMessage]:
        """The chat messages to send."""
        return [_MESSAGE[role](content=t.render(values)) for role, t in self.messages]


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


def prepare(prompt: TaskPrompt, allowed: Iterable[str], where: str) -> PreparedPrompt:
    """Parse ``prompt`` and check that it only uses ``allowed`` variables."""
    known = sorted(allowed)
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
                f"{{{{ {unknown[0]} }}}}; this task knows: {', '.join(known)}"
            )
        prepared.append((role, template))
    return PreparedPrompt(prompt, tuple(prepared))


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
) -> str:
    """Send ``messages`` to ``llm`` as a child run named ``task``; the answer's text."""
    kwargs: dict[str, Any] = {}
    if stop:
        kwargs["stop"] = list(stop)
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    # The engine tags the rail's run (and so this call) with the rail name; the run name says
    # which task it was, as NeMo Guardrails' LLM call log does.
    tagged = llm.with_config(run_name=task, metadata={"guardrails_task": task})
    answer = await tagged.ainvoke(messages, **kwargs)
    if isinstance(answer, str):
        return answer
    text = getattr(answer, "text", None)
    return text if isinstance(text, str) else str(getattr(answer, "content", answer))


__all__ = [
    "PreparedPrompt",
    "Template",
    "ask",
    "choose",
    "config_model_id",
    "prepare",
    "prompt_score",
    "runtime_model_id",
    "task_key",
]
