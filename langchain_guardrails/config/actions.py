"""Rail actions: the ``@action`` decorator, ``RailResult`` and loading ``actions.py``.

An action is a plain Python function (sync or async) that decides whether text may pass.
Its parameters are injected by name; see :data:`INJECTABLE`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from langchain_guardrails.errors import ConfigError

INJECTABLE: dict[str, str] = {
    "text": "the text under check (user message for input rails, window text for output rails, "
    "tool result for tool_input rails, `name(json args)` for tool_output rails)",
    "user_message": "the last user message",
    "bot_message": "the window text (output rails) or None (input rails)",
    "messages": "the conversation as LangChain messages",
    "llm": "the main model, bound to this rail's child run",
    "llms": "config models by `type`, bound to this rail's child run",
    "config": "the RailsConfig",
    "params": "the `$key=value` parameters of the flow",
    "stage": '"input", "output", "tool_input" or "tool_output"',
    "run_config": "the RunnableConfig of this rail's child run",
    "tool_call": 'the tool call `{"name", "args", "id"}` under check (tool rails; else None)',
    "timeout": "this rail's timeout in seconds (the flow's `timeout:`, else rails.timeout)",
}

F = TypeVar("F", bound=Callable[..., Any])

Span = tuple[int, int, str]
"""``(start, end, replacement)``: a rewriting rail replaced ``text[start:end]``."""


@dataclass(frozen=True, slots=True)
class RailResult:
    """What a rail action may return instead of a ``bool``.

    Attributes:
        allowed: whether the text may pass.
        text: a rewrite of the text (masking); only for actions declared ``rewrites=True``.
        reason: why it blocked, shown in the violation metadata.
        metadata: extra facts for the violation metadata (e.g. categories), never secrets.
        spans: with ``text``, the ``(start, end, replacement)`` changes it made to its input
            (sorted, disjoint): a streamed answer is then released up to the last change
            instead of the first one. Ignored unless applying them gives ``text`` exactly.
        refusal: when blocking, the refusal text this rail asks for instead of the stage's
            (a Colang flow's last ``bot`` message, a refusal in the user's language); a
            ``refusal:`` set on the flow in config.yml wins over it.

    Example:
        .. code-block:: python

            RailResult(allowed=True, text="mail <EMAIL>", spans=[(5, 12, "<EMAIL>")])
    """

    allowed: bool
    text: str | None = None
    reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    spans: Sequence[Span] | None = None
    refusal: str | None = None


def apply_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each ``(start, end, replacement)`` span replaced (spans sorted, disjoint).

    Example:
        .. code-block:: python

            apply_spans("mail a@b.c now", [(5, 10, "<EMAIL>")])  # "mail <EMAIL> now"
    """
    parts: list[str] = []
    position = 0
    for start, end, replacement in spans:
        parts.append(text[position:start])
        parts.append(replacement)
        position = end
    parts.append(text[position:])
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A registered action: the function and how to call it."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    wants: frozenset[str]
    rewrites: bool = False
    inline: bool = False


@overload
def action(fn: F, /) -> F: ...
@overload
def action(
    *, name: str | None = None, rewrites: bool = False, inline: bool = False
) -> Callable[[F], F]: ...
def action(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    rewrites: bool = False,
    inline: bool = False,
) -> F | Callable[[F], F]:
    """Register a function as a rail action (usable as a flow name in ``config.yml``).

    Args:
        name: the flow name; defaults to the function name with ``_`` replaced by spaces.
        rewrites: the action may return ``RailResult(text=...)`` to rewrite (mask) text.
            Rewriting output rails need hold-back mode (``stream_first: false``).
        inline: a sync function cheap enough to run on the event loop; other sync
            functions run in a worker thread so they never stall the stream. An inline
            function that finds it needs longer may return an awaitable (e.g. the rest of
            its work in a thread), which is awaited within the rail's timeout.

    Example:
        .. code-block:: python

            @action(name="no secrets")
            async def no_secrets(text: str) -> bool:
                return "SECRET" not in text
    """

    def wrap(func: F) -> F:
        func.__guardrails_action__ = build_spec(  # type: ignore[attr-defined]
            func, name=name, rewrites=rewrites, inline=inline
        )
        return func

    return wrap(fn) if fn is not None else wrap


def build_spec(
    fn: Callable[..., Any], *, name: str | None = None, rewrites: bool = False, inline: bool = False
) -> ActionSpec:
    """Inspect ``fn`` once: which injectable parameters it wants, and whether it is async."""
    signature = inspect.signature(fn)
    wants: set[str] = set()
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            wants.update(INJECTABLE)
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        elif param.name in INJECTABLE:
            wants.add(param.name)
        elif param.default is inspect.Parameter.empty:
            raise ConfigError(
                f"action {getattr(fn, '__name__', fn)!r}: parameter {param.name!r} cannot be "
                f"injected; known parameters: {', '.join(INJECTABLE)}"
            )
    action_name = name or getattr(fn, "__name__", "action").replace("_", " ")
    return ActionSpec(
        name=action_name,
        fn=fn,
        is_async=inspect.iscoroutinefunction(fn),
        wants=frozenset(wants),
        rewrites=rewrites,
        inline=inline,
    )


def spec_of(fn: Callable[..., Any] | ActionSpec) -> ActionSpec:
    """The :class:`ActionSpec` of a decorated function (or of a plain one, by its name)."""
    if isinstance(fn, ActionSpec):
        return fn
    spec = getattr(fn, "__guardrails_action__", None)
    return spec if isinstance(spec, ActionSpec) else build_spec(fn)
