"""Run one Colang 1.0 rail flow to its verdict, as NeMo Guardrails' Colang 1.0 runtime does.

* statements run in order; ``if`` / ``elif`` / ``else`` take the first true branch;
* ``[$var =] execute action(...)`` calls the action (through ``call``, which the engine
  provides) and stores its result;
* ``bot NAME`` remembers the first message of ``define bot NAME`` (NeMo samples one at random;
  the first keeps verdicts and refusals reproducible); ``bot $var`` remembers the variable's
  value; a ``bot`` not followed by ``stop`` says nothing here (a rail flow only refuses);
* ``stop`` ends the flow **blocked**; the last ``bot`` message is the refusal;
* ``create event XxxRailException(message=...)`` records the exception and ends the flow
  blocked (the engine raises it as ``GuardrailsViolation`` under ``enable_rails_exceptions``);
* ``do mask blocked user input`` does nothing (see :class:`~.nodes.Do`);
* a flow that reaches its end passes.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_guardrails.colang.expressions import ColangRuntimeError
from langchain_guardrails.colang.nodes import (
    Assign,
    Bot,
    ColangProgram,
    CreateEvent,
    Execute,
    If,
    Statement,
    Stop,
)

REFUSE_TO_RESPOND = "refuse to respond"
"""NeMo's own ``bot refuse to respond``: without a ``define bot`` of it, the stage's refusal."""

ActionCall = Callable[[Execute, dict[str, Any], Mapping[str, Any]], Awaitable[Any]]
"""Calls the action of an ``execute`` with its evaluated arguments and the flow's variables."""


@dataclass(frozen=True, slots=True)
class RailException:
    """A ``create event XxxRailException(message=...)`` the flow reached."""

    event: str
    message: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a rail flow ended."""

    blocked: bool
    refusal: str | None = None
    """The last ``bot`` message before the block (None: the stage's refusal)."""
    exception: RailException | None = None
    where: str | None = None
    """``file:line`` of the ``stop`` or ``create event`` that blocked."""


class _Blocked(Exception):
    def __init__(self, where: str, exception: RailException | None = None) -> None:
        super().__init__(where)
        self.where = where
        self.exception = exception


async def run_flow(
    program: ColangProgram,
    name: str,
    variables: Mapping[str, Any],
    call: ActionCall,
) -> Outcome:
    """Run flow ``name`` with the context ``variables`` (copied, never changed).

    Raises:
        ColangRuntimeError: an expression failed, or ``bot NAME`` names no ``define bot``.

    Example:
        .. code-block:: python

            outcome = await run_flow(program, "check blocked terms", {"bot_message": "hi"}, call)
            outcome.blocked, outcome.refusal
    """
    state = _State(program, dict(variables), call)
    try:
        await state.run(program.flows[name].body)
    except _Blocked as blocked:
        return Outcome(True, state.last_bot, blocked.exception, blocked.where)
    return Outcome(False)


class _State:
    """One run's variables and last bot message (per run, never shared)."""

    def __init__(self, program: ColangProgram, variables: dict[str, Any], call: ActionCall):
        self.program = program
        self.variables = variables
        self.call = call
        self.last_bot: str | None = None

    async def run(self, body: tuple[Statement, ...]) -> None:
        for statement in body:
            await self.step(statement)

    async def step(self, statement: Statement) -> None:
        if isinstance(statement, Execute):
            args = {key: value.evaluate(self.variables) for key, value in statement.args}
            result = await self.call(statement, args, self.variables)
            if inspect.isawaitable(result):
                result = await result
            if statement.target is not None:
                self.variables[statement.target] = result
        elif isinstance(statement, Assign):
            self.variables[statement.target] = statement.value.evaluate(self.variables)
        elif isinstance(statement, If):
            for condition, branch in statement.branches:
                if condition.evaluate(self.variables):
                    await self.run(branch)
                    return
            await self.run(statement.orelse)
        elif isinstance(statement, Bot):
            self.last_bot = self.bot_text(statement)
        elif isinstance(statement, Stop):
            raise _Blocked(statement.where)
        elif isinstance(statement, CreateEvent):
            args = {key: value.evaluate(self.variables) for key, value in statement.args}
            message = args.get("message")
            exception = RailException(statement.event, "" if message is None else str(message))
            raise _Blocked(statement.where, exception)

    def bot_text(self, statement: Bot) -> str | None:
        if statement.variable is not None:
            value = self.variables.get(statement.variable)
            return None if value is None else str(value)
        definition = self.program.bots.get(statement.name or "")
        if definition is not None:
            return definition.messages[0]
        if statement.name == REFUSE_TO_RESPOND:
            return None
        raise ColangRuntimeError(f"{statement.where}: bot {statement.name!r} is not defined")


__all__ = ["REFUSE_TO_RESPOND", "ActionCall", "Outcome", "RailException", "run_flow"]
