"""The parsed form of a Colang 1.0 rail program: bot messages, flows and their statements.

Every node keeps where it was written (``where`` is ``file:line``) so errors at build and at
run time can point at the line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from langchain_guardrails.colang.expressions import Expression
from langchain_guardrails.errors import ConfigError


@dataclass(frozen=True, slots=True)
class BotDefinition:
    """``define bot NAME`` and its quoted messages (NeMo samples one; we take the first)."""

    name: str
    messages: tuple[str, ...]
    where: str


@dataclass(frozen=True, slots=True)
class Execute:
    """``[$target =] execute ACTION(arg=value, ...)``."""

    action: str
    args: tuple[tuple[str, Expression], ...]
    target: str | None
    where: str


@dataclass(frozen=True, slots=True)
class Assign:
    """``$target = expression``."""

    target: str
    value: Expression
    where: str


@dataclass(frozen=True, slots=True)
class If:
    """``if`` / ``elif`` branches in order, and the ``else`` body (empty when absent)."""

    branches: tuple[tuple[Expression, tuple[Statement, ...]], ...]
    orelse: tuple[Statement, ...]
    where: str


@dataclass(frozen=True, slots=True)
class Bot:
    """``bot NAME`` (a ``define bot`` message) or ``bot $var`` (the variable's value)."""

    name: str | None
    variable: str | None
    where: str


@dataclass(frozen=True, slots=True)
class Stop:
    """``stop``: the rail flow blocks here."""

    where: str


@dataclass(frozen=True, slots=True)
class CreateEvent:
    """``create event XxxRailException(message=...)``: the flow raises a rail exception."""

    event: str
    args: tuple[tuple[str, Expression], ...]
    where: str


@dataclass(frozen=True, slots=True)
class Do:
    """``do mask blocked user input``: NeMo's core subflow that masks a blocked user message in
    NeMo's own dialog history. A refused message never reaches the model here, and there is
    no NeMo history to mask, so it does nothing (the caller's own history is not touched)."""

    name: str
    where: str


MASK_BLOCKED_USER_INPUT = "mask blocked user input"
"""The one ``do`` subflow of the rail subset (NeMo 0.24's ``self check input`` calls it)."""

Statement = Execute | Assign | If | Bot | Stop | CreateEvent | Do


@dataclass(frozen=True, slots=True)
class FlowDefinition:
    """``define flow NAME`` / ``define subflow NAME`` and its statements."""

    name: str
    kind: Literal["flow", "subflow"]
    body: tuple[Statement, ...]
    where: str

    def walk(self) -> Iterator[Statement]:
        """Every statement of the flow, nested ones included, in source order."""
        yield from _walk(self.body)


def _walk(body: tuple[Statement, ...]) -> Iterator[Statement]:
    for statement in body:
        yield statement
        if isinstance(statement, If):
            for _, branch in statement.branches:
                yield from _walk(branch)
            yield from _walk(statement.orelse)


@dataclass(frozen=True, slots=True)
class ColangProgram:
    """All ``define bot`` and ``define flow`` / ``subflow`` of a config's ``.co`` files."""

    bots: Mapping[str, BotDefinition] = field(default_factory=lambda: MappingProxyType({}))
    flows: Mapping[str, FlowDefinition] = field(default_factory=lambda: MappingProxyType({}))

    def __deepcopy__(self, memo: dict[int, object]) -> ColangProgram:
        # Immutable: a copied config shares it (mapping proxies cannot be deep-copied).
        return self

    def merged(self, other: ColangProgram) -> ColangProgram:
        """This program and ``other`` together: a bot defined in both keeps the messages of
        both, in load order (as NeMo appends them); a flow defined twice is an error."""
        bots = dict(self.bots)
        for name, bot in other.bots.items():
            if name in bots:
                first = bots[name]
                bots[name] = BotDefinition(name, first.messages + bot.messages, first.where)
            else:
                bots[name] = bot
        flows = dict(self.flows)
        for name, flow in other.flows.items():
            if name in flows:
                raise ConfigError(
                    f"{flow.where}: flow {name!r} is already defined at {flows[name].where}"
                )
            flows[name] = flow
        return ColangProgram(MappingProxyType(bots), MappingProxyType(flows))


EMPTY_PROGRAM = ColangProgram()
"""A config without ``.co`` files."""
