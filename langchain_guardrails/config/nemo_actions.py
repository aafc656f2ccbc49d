"""NeMo Guardrails' ``@action`` in a config folder's ``actions.py``.

A NeMo ``actions.py`` starts with ``from nemoguardrails.actions import action``. How it loads:

* **nemoguardrails is not installed** (the usual case): while ``RailsConfig.from_path`` imports
  the file, and only then, ``nemoguardrails.actions`` (and ``nemoguardrails.actions.actions``)
  resolve to this module's :func:`action`. Nothing is left in ``sys.modules`` afterwards, so
  other code never sees a fake ``nemoguardrails``. Any other ``nemoguardrails`` import in the
  file fails with a message naming the module and saying what is supported.
* **nemoguardrails is installed**: the file imports the real decorator, which marks functions
  with ``action_meta``; the loader recognises that mark and adapts the function the same way.

A NeMo action becomes a rail whose flow name is its ``name`` (default: the function name), so
``rails.input.flows: [check_blocked_terms]`` runs it. Its parameters are filled as NeMo fills
them: ``context`` (``user_message``, ``bot_message``, ``last_user_message``,
``last_bot_message``), ``llm``, ``config``, ``events`` (the conversation as NeMo events), and
``text`` (the text under check). Used directly as a flow name, its result decides as follows:
with NeMo's ``output_mapping`` (which returns True when the text must be blocked) the mapping
decides; without it ``True`` allows and ``False`` blocks, as for every rail here. Called from a
Colang flow (``$blocked = execute check_blocked_terms``), its raw result means only what the
flow tests (see :func:`nemo_function`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

SHIMMED = ("nemoguardrails", "nemoguardrails.actions", "nemoguardrails.actions.actions")
"""The modules served while an ``actions.py`` loads without NeMo installed."""

_FILLED = frozenset({"context", "llm", "config", "events", "text", "llm_task_manager"})
_lock = threading.Lock()


class ActionResult:
    """NeMo's ``ActionResult``: its ``return_value`` is what the rail decides on."""

    def __init__(self, return_value: Any = None, events: Any = None, context_updates: Any = None):
        self.return_value = return_value
        self.events = events
        self.context_updates = context_updates


def action(
    is_system_action: bool = False,
    name: str | None = None,
    execute_async: bool = False,
    output_mapping: Callable[[Any], bool] | None = None,
) -> Callable[[F], F]:
    """NeMo Guardrails' ``@action(...)``: marks the function as NeMo does (``action_meta``).

    Example:
        .. code-block:: python

            from nemoguardrails.actions import action  # served by this module

            @action(name="check_blocked_terms")
            async def check_blocked_terms(context: dict | None = None) -> bool:
                return "proprietary" not in (context or {}).get("bot_message", "")
    """

    def mark(fn: F) -> F:
        fn.action_meta = {  # type: ignore[attr-defined]
            "name": name or fn.__name__,
            "is_system_action": is_system_action,
            "execute_async": execute_async,
            "output_mapping": output_mapping,
        }
        return fn

    return mark


def adapt(fn: Callable[..., Any]) -> ActionSpec:
    """The rail of a NeMo action (see the module docstring for how it is called and judged)."""
    meta = getattr(fn, "action_meta", None) or {}
    name = str(meta.get("name") or getattr(fn, "__name__", "action"))
    mapping = meta.get("output_mapping")
    signature = inspect.signature(fn)
    wants = set()
    unfilled: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if param.name in _FILLED:
            wants.add(param.name)
        elif param.default is param.empty:
            unfilled.append(param.name)
    is_async = inspect.iscoroutinefunction(fn)

    async def run(
        text: str,
        user_message: str,
        bot_message: str | None,
        messages: list[BaseMessage],
        llm: Any,
        config: Any,
    ) -> RailResult:
        context = {
            "user_message": user_message,
            "last_user_message": user_message,
            "bot_message": bot_message,
            "last_bot_message": bot_message,
        }
        available = {"context": context, "llm": llm, "config": config, "text": text}
        if "events" in wants:
            available["events"] = history_events(messages)
        kwargs = {key: available.get(key) for key in wants}
        result = fn(**kwargs)
        if is_async:
            result = await result
        return _judge(name, result, mapping)

    # A Colang flow calls the function itself and tests its raw result (see nemo_function);
    # it may pass the parameters a direct rail cannot fill (see refuse_unfilled).
    run.nemo_function = fn  # type: ignore[attr-defined]
    run.nemo_unfilled = tuple(unfilled)  # type: ignore[attr-defined]
    return build_spec(run, name=name)


def refuse_unfilled(spec: ActionSpec) -> None:
    """A NeMo action used directly as a rail (no Colang) must have every parameter filled.

    Raises:
        ConfigError: it has a required parameter only a Colang ``execute`` could pass.
    """
    unfilled = getattr(spec.fn, "nemo_unfilled", ())
    if unfilled:
        raise ConfigError(
            f"NeMo action {spec.name!r}: parameter {unfilled[0]!r} cannot be filled without a "
            f"Colang flow; parameters filled here: {', '.join(sorted(_FILLED))}"
        )


def nemo_function(spec: ActionSpec) -> Callable[..., Any] | None:
    """The NeMo ``@action`` function behind an adapted rail, if ``spec`` is one."""
    fn = getattr(spec.fn, "nemo_function", None)
    return fn if callable(fn) else None


def _judge(name: str, result: Any, mapping: Callable[[Any], bool] | None) -> RailResult:
    if isinstance(result, ActionResult) or type(result).__name__ == "ActionResult":
        result = getattr(result, "return_value", None)
    if isinstance(result, RailResult):
        return result
    if mapping is not None:
        blocked = bool(mapping(result))
        return RailResult(allowed=not blocked, reason=None if not blocked else f"{name} blocked")
    if isinstance(result, bool):
        return RailResult(allowed=result, reason=None if result else f"{name} returned False")
    raise TypeError(
        f"NeMo action {name!r} returned {type(result).__name__}; without output_mapping a "
        "rail action must return a bool (True allows)"
    )


def adapted_actions(values: Sequence[Any]) -> list[Callable[..., Any]]:
    """Functions of a loaded ``actions.py`` marked by NeMo's ``@action``, as rail actions."""
    found: list[Callable[..., Any]] = []
    for value in values:
        if callable(value) and isinstance(getattr(value, "action_meta", None), dict):
            spec = adapt(value)
            found.append(_marked(spec))
    return found


def _marked(spec: ActionSpec) -> Callable[..., Any]:
    fn = spec.fn
    fn.__guardrails_action__ = spec  # type: ignore[attr-defined]
    return fn


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves :data:`SHIMMED`; refuses other ``nemoguardrails`` modules with a clear error."""

    def find_spec(
        self, fullname: str, path: Any, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in SHIMMED:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        if fullname.startswith("nemoguardrails."):
            raise ImportError(
                f"{fullname} is part of NeMo Guardrails, which is not installed; an actions.py "
                "loaded by langchain_guardrails may import only `action` (and ActionResult) "
                "from nemoguardrails.actions"
            )
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.action = action  # type: ignore[attr-defined]
        module.ActionResult = ActionResult  # type: ignore[attr-defined]


@contextmanager
def nemo_imports() -> Iterator[None]:
    """While the block runs, ``nemoguardrails.actions`` resolves to the shim (only when the
    real package is not installed); afterwards no trace is left in ``sys.modules``."""
    if importlib.util.find_spec("nemoguardrails") is not None:
        yield
        return
    finder = _Finder()
    with _lock:
        sys.meta_path.insert(0, finder)
        try:
            yield
        finally:
            sys.meta_path.remove(finder)
            for name in SHIMMED:
                module = sys.modules.get(name)
                if module is not None and isinstance(module.__spec__.loader, _Finder):  # type: ignore[union-attr]
                    del sys.modules[name]


def history_events(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The conversation as NeMo Guardrails' event dicts (what its prompt filters read).

    Example:
        .. code-block:: python

            history_events([HumanMessage("hi")])  # [{"type": "UserMessage", "text": "hi"}]
    """
    events: list[dict[str, Any]] = []
    for message in messages:
        if message.type == "human":
            events.append({"type": "UserMessage", "text": message.text})
        elif message.type == "ai":
            events.append({"type": "StartUtteranceBotAction", "script": message.text})
        elif message.type == "system":
            events.append({"type": "SystemMessage", "content": message.text})
    return events


__all__ = [
    "SHIMMED",
    "ActionResult",
    "action",
    "adapt",
    "adapted_actions",
    "history_events",
    "nemo_function",
    "nemo_imports",
    "refuse_unfilled",
]
