"""A Colang 1.0 flow used as a rail: its ``execute`` statements bound to actions when the
``Guardrails`` object is built, and the flow run per text (per window for streamed output).

What ``execute NAME`` calls, first match wins:

* an action of the config (``actions.py``, ``actions=[...]``, ``register_action``) named
  ``NAME`` (or ``NAME`` with ``_`` read as spaces); a NeMo ``@action`` is called as NeMo calls
  it (``context``, ``llm``, ``config``, ``events``, ``text`` and the ``execute`` arguments) and
  its **raw** result is what the flow tests; an ``@action`` of this package returning a
  ``RailResult`` gives its ``allowed`` (a bool, never an always-true object);
* NeMo's built-in actions this package has: ``self_check_input``, ``self_check_output``,
  ``self_check_facts``, ``self_check_hallucination``; each returns a bool, **True = allowed**
  (``if not $allowed``), as NeMo <= 0.23 did, or, when the flow reads ``$var.is_blocked`` of
  its result (NeMo 0.24's ``flows.v1.co``), a :class:`NemoVerdict` as NeMo 0.24 does.

The flow's context variables are NeMo's: ``$user_message``, ``$last_user_message``,
``$bot_message``, ``$last_bot_message`` (the window text in output rails), ``$relevant_chunks``
(the system and tool messages), ``$tool_calls``, ``$tool_message``, ``$tool_name``,
``$tool_call_id``, ``$bot_thinking`` and ``$config``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from langchain_guardrails.colang.interpreter import REFUSE_TO_RESPOND, run_flow
from langchain_guardrails.colang.nodes import Assign, Bot, CreateEvent, Execute, FlowDefinition, If
from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.nemo_actions import history_events, nemo_function
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails import BUILTIN_RAILS
from langchain_guardrails.rails.self_check import evidence_of

NEMO_BUILTIN_ACTIONS: Mapping[str, tuple[str, str]] = {
    "self_check_input": ("self check input", "input"),
    "self_check_output": ("self check output", "output"),
    "self_check_facts": ("self check facts", "output"),
    "self_check_hallucination": ("self check hallucination", "output"),
}
"""NeMo action name -> (the built-in rail that does its work, the side whose text it checks)."""


@dataclass(frozen=True, slots=True)
class NemoVerdict:
    """A built-in NeMo action's verdict for a flow that reads ``$var.is_blocked`` (NeMo 0.24's
    ``RailOutcome``): a bool has no ``is_blocked``, which Colang reads as None, so
    ``if $response.is_blocked`` would silently never block. ``bool()`` of it is ``allowed``."""

    allowed: bool

    @property
    def is_blocked(self) -> bool:
        """True when the check blocks (NeMo 0.24's ``RailOutcome.is_blocked``)."""
        return not self.allowed

    def __bool__(self) -> bool:
        return self.allowed


_MESSAGES = frozenset({"user_message", "bot_message", "last_user_message", "last_bot_message"})
_NEMO_FILLED = frozenset({"context", "llm", "config", "events", "text", "llm_task_manager"})

Caller = Callable[[dict[str, Any], dict[str, Any], Mapping[str, Any]], Any]
"""``(available values, execute arguments, flow variables) -> result`` of one bound action."""


def colang_rail(
    config: RailsConfig, name: str, stage: str, registered: Mapping[str, ActionSpec]
) -> ActionSpec:
    """The rail of Colang flow ``name``: every ``execute`` and ``bot`` is checked now, so a
    missing action or bot message is a ``ConfigError`` when ``Guardrails`` is built."""
    program = config.colang
    flow = program.flows[name]
    callers = {e.action: _bind(config, e, registered, flow) for e in _executes(flow)}
    for statement in flow.walk():
        target = getattr(statement, "target", None)
        if target in _MESSAGES:
            # In NeMo this rewrites the message; silently ignoring it would release the
            # original text.
            raise ConfigError(
                f"{statement.where}: assigning ${target} rewrites the message in NeMo; "
                "rewriting from Colang is not supported here (use an @action(rewrites=True) "
                "rail that returns RailResult(text=...))"
            )
        if (
            isinstance(statement, Bot)
            and statement.name is not None
            and statement.name not in program.bots
            and statement.name != REFUSE_TO_RESPOND
        ):
            raise ConfigError(
                f"{statement.where}: bot {statement.name!r} has no 'define bot' (a rail flow's "
                "bot messages must be written out; they are not generated here)"
            )

    async def run(
        text: str,
        user_message: str,
        messages: list[BaseMessage],
        llm: Any,
        llms: Any,
        config: RailsConfig,
        stage: str,
        run_config: Any,
        tool_call: Mapping[str, Any] | None,
        timeout: float,  # noqa: ASYNC109 - injected by name, passed on to the flow's actions
    ) -> RailResult:
        bot_message = text if stage == "output" else None
        available: dict[str, Any] = {
            "text": text,
            "user_message": user_message,
            "bot_message": bot_message,
            "messages": messages,
            "llm": llm,
            "llms": llms,
            "config": config,
            "params": {},
            "stage": stage,
            "run_config": run_config,
            "tool_call": tool_call,
            "timeout": timeout,
        }
        variables = context_variables(text, user_message, messages, config, stage, tool_call)

        async def call(execute: Execute, args: dict[str, Any], current: Mapping[str, Any]) -> Any:
            result = callers[execute.action](available, args, current)
            if inspect.isawaitable(result):
                result = await result
            return _raw(result)

        outcome = await run_flow(program, name, variables, call)
        if not outcome.blocked:
            return RailResult(True)
        metadata: dict[str, Any] = {}
        if outcome.exception is not None:
            metadata["exception"] = {
                "type": outcome.exception.event,
                "message": outcome.exception.message,
            }
        return RailResult(
            False,
            reason=f"Colang flow {name!r} blocked at {outcome.where}",
            refusal=outcome.refusal,
            metadata=metadata,
        )

    return build_spec(run, name=name)


def context_variables(
    text: str,
    user_message: str,
    messages: list[BaseMessage],
    config: RailsConfig,
    stage: str,
    tool_call: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """NeMo's context variables for one run of a rail flow on ``text``."""
    last_ai = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    bot_message = text if stage == "output" else None
    if tool_call is not None and stage == "tool_output":
        tool_calls = [dict(tool_call)]
    else:
        tool_calls = [dict(c) for c in last_ai.tool_calls] if last_ai is not None else []
    thinking = last_ai.additional_kwargs.get("reasoning_content") if last_ai else None
    return {
        "user_message": user_message,
        "last_user_message": user_message,
        "bot_message": bot_message,
        "last_bot_message": bot_message,
        "relevant_chunks": evidence_of(messages),
        "tool_calls": tool_calls,
        "tool_message": text if stage == "tool_input" else None,
        "tool_name": tool_call.get("name") if tool_call else None,
        "tool_call_id": tool_call.get("id") if tool_call else None,
        "bot_thinking": thinking if isinstance(thinking, str) else None,
        "config": config,
    }


def _executes(flow: FlowDefinition) -> list[Execute]:
    return [s for s in flow.walk() if isinstance(s, Execute)]


def _bind(
    config: RailsConfig,
    execute: Execute,
    registered: Mapping[str, ActionSpec],
    flow: FlowDefinition,
) -> Caller:
    spec = registered.get(execute.action) or registered.get(execute.action.replace("_", " "))
    if spec is not None:
        function = nemo_function(spec)
        if function is not None:
            return _nemo_caller(function, execute)
        return _spec_caller(spec, execute)
    if execute.action in NEMO_BUILTIN_ACTIONS:
        rail, side = NEMO_BUILTIN_ACTIONS[execute.action]
        verdict = execute.target is not None and _reads_is_blocked(flow, execute.target)
        return _builtin_caller(BUILTIN_RAILS[rail](config, {}), side, verdict)
    known = sorted({*registered, *NEMO_BUILTIN_ACTIONS})
    raise ConfigError(
        f"{execute.where}: execute {execute.action}: unknown action; known actions: "
        f"{', '.join(known) or '(none)'}"
    )


def _nemo_caller(function: Callable[..., Any], execute: Execute) -> Caller:
    parameters = inspect.signature(function).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    given = {key for key, _ in execute.args}
    for param in parameters.values():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if param.default is param.empty and param.name not in given | _NEMO_FILLED:
            raise ConfigError(
                f"{execute.where}: execute {execute.action}: parameter {param.name!r} of the "
                f"action is not given (pass it as execute {execute.action}({param.name}=...))"
            )

    def call(available: dict[str, Any], args: dict[str, Any], current: Mapping[str, Any]) -> Any:
        filled = {
            "context": dict(current),
            "llm": available["llm"],
            "config": available["config"],
            "events": history_events(available["messages"]),
            "text": available["text"],
            "llm_task_manager": None,
            **args,
        }
        return function(**{k: v for k, v in filled.items() if takes_all or k in parameters})

    return call


def _spec_caller(spec: ActionSpec, execute: Execute) -> Caller:
    parameters = inspect.signature(spec.fn).parameters

    async def call(
        available: dict[str, Any], args: dict[str, Any], current: Mapping[str, Any]
    ) -> Any:
        kwargs = {name: available[name] for name in spec.wants}
        kwargs.update({k: v for k, v in args.items() if k in parameters})
        if spec.is_async or spec.inline:
            return spec.fn(**kwargs)
        from langchain_guardrails.rails.executor import run_sync_rail

        return await run_sync_rail(spec.fn, **kwargs)

    return call


def _reads_is_blocked(flow: FlowDefinition, target: str) -> bool:
    """Whether an expression of ``flow`` reads ``$target.is_blocked``."""
    sources: list[str] = []
    for statement in flow.walk():
        if isinstance(statement, If):
            sources += [condition.source for condition, _ in statement.branches]
        elif isinstance(statement, Assign):
            sources.append(statement.value.source)
        elif isinstance(statement, Execute | CreateEvent):
            sources += [value.source for _, value in statement.args]
    pattern = re.compile(rf"\${re.escape(target)}\.is_blocked\b")
    return any(pattern.search(source) for source in sources)


def _builtin_caller(spec: ActionSpec, side: str, verdict: bool) -> Caller:
    async def call(
        available: dict[str, Any], args: dict[str, Any], current: Mapping[str, Any]
    ) -> bool | NemoVerdict:
        # The built-in checks the user message (input side) or the answer (output side),
        # whatever stage the flow runs in; an `execute ...(text=...)` argument names another.
        text = current.get("user_message") if side == "input" else current.get("bot_message")
        values = {**available, "stage": side, "text": args.get("text", text) or ""}
        result = spec.fn(**{name: values[name] for name in spec.wants})
        if inspect.isawaitable(result):
            result = await result
        allowed = bool(_raw(result))
        return NemoVerdict(allowed) if verdict else allowed

    return call


def _raw(result: Any) -> Any:
    """What the flow tests: a ``RailResult``'s verdict, an ``ActionResult``'s value."""
    if isinstance(result, RailResult):
        return result.allowed
    if type(result).__name__ == "ActionResult":
        return getattr(result, "return_value", None)
    return result


__all__ = ["NEMO_BUILTIN_ACTIONS", "NemoVerdict", "colang_rail", "context_variables"]
