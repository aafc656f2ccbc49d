"""Parse Colang 1.0 rail flows (``.co`` files), with line numbers.

The subset is what NeMo Guardrails users write input, output and tool rails in:
``define bot NAME`` with quoted messages; ``define flow`` / ``define subflow`` with ``#``
comments, ``\"\"\"docstrings\"\"\"`` and the statements ``[$var =] execute action(arg=value)``,
``$var = expression``, ``if`` / ``elif`` / ``else``, ``bot NAME``, ``bot $var``, ``stop``,
``create event XxxRailException(message=...)`` and NeMo's ``do mask blocked user input``.

Anything else is a :class:`ConfigError` naming the file, the line and the construct: dialog
rails (``define user``, ``user ...`` lines, ``when`` / ``else when``) and Colang 2.x
(``flow x``, ``import``, ``match``, ``await``, ``activate`` ...) are not supported.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from langchain_guardrails.colang.expressions import (
    Expression,
    check_tree,
    from_python,
    parse_expression,
    to_python,
)
from langchain_guardrails.colang.nodes import (
    MASK_BLOCKED_USER_INPUT,
    Assign,
    Bot,
    BotDefinition,
    ColangProgram,
    CreateEvent,
    Do,
    Execute,
    FlowDefinition,
    If,
    Statement,
    Stop,
)
from langchain_guardrails.errors import ConfigError

DIALOG = (
    "dialog rails are not supported by langchain_guardrails; only Colang 1.0 rail flows are "
    "(define bot, define flow/subflow with execute, $variables, if/elif/else, bot, stop, "
    "create event ...RailException)"
)
_COLANG_2 = frozenset(
    {"flow", "import", "match", "await", "activate", "send", "start", "global", "@active"}
)
_DIALOG_WORDS = frozenset({"user", "when"})
_NAME = re.compile(r"[A-Za-z_][\w .-]*\w|[A-Za-z_]")
_VARIABLE = re.compile(r"\$([A-Za-z_]\w*)$")
_ACTION = re.compile(r"([A-Za-z_][\w.]*)\s*(\(.*\))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    indent: int
    text: str


def parse_colang(text: str, source: str) -> ColangProgram:
    """The bot messages and flows of one ``.co`` file; ``source`` names it in errors.

    Example:
        .. code-block:: python

            program = parse_colang('define subflow no\\n  stop\\n', "rails.co")
            program.flows["no"].body  # (Stop(where='rails.co:2'),)
    """
    lines = _lines(text, source)
    bots: dict[str, BotDefinition] = {}
    flows: dict[str, FlowDefinition] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        where = f"{source}:{line.number}"
        if line.indent:
            raise ConfigError(f"{where}: {line.text!r}: unexpected indentation")
        end = i + 1
        while end < len(lines) and lines[end].indent > 0:
            end += 1
        body = lines[i + 1 : end]
        words = line.text.split()
        if words[0] == "define" and len(words) >= 3 and words[1] == "bot":
            name = _name(" ".join(words[2:]), where)
            messages = tuple(_message(b, source) for b in body)
            if not messages:
                raise ConfigError(f"{where}: 'define bot {name}' has no message")
            if name in bots:
                first = bots[name]
                messages = first.messages + messages
                where = first.where
            bots[name] = BotDefinition(name, messages, where)
        elif words[0] == "define" and len(words) >= 3 and words[1] in ("flow", "subflow"):
            name = _name(" ".join(words[2:]), where)
            if name in flows:
                raise ConfigError(
                    f"{where}: flow {name!r} is already defined at {flows[name].where}"
                )
            kind: Literal["flow", "subflow"] = "flow" if words[1] == "flow" else "subflow"
            statements, rest = _block(body, 0, source)
            if rest != len(body):
                raise ConfigError(f"{source}:{body[rest].number}: unexpected indentation")
            flows[name] = FlowDefinition(name, kind, tuple(statements), where)
        else:
            _refuse_top_level(line, where)
        i = end
    return ColangProgram(MappingProxyType(bots), MappingProxyType(flows))


def _lines(text: str, source: str) -> list[_Line]:
    """Meaningful lines: comments, blank lines and docstrings dropped; tabs as 4 spaces."""
    found: list[_Line] = []
    in_docstring = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if in_docstring:
            in_docstring = '"""' not in stripped
            continue
        if stripped.startswith('"""'):
            in_docstring = stripped == '"""' or stripped.count('"""') == 1
            continue
        content = _without_comment(raw.expandtabs(4)).rstrip()
        if content.strip():
            indent = len(content) - len(content.lstrip(" "))
            found.append(_Line(number, indent, content.strip()))
    if in_docstring:
        raise ConfigError(f"{source}: a docstring is not closed")
    return found


def _without_comment(line: str) -> str:
    quote = None
    escaped = False
    for i, char in enumerate(line):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:i]
    return line


def _name(text: str, where: str) -> str:
    name = " ".join(text.split())
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: {name!r} is not a flow or bot name")
    return name


def _message(line: _Line, source: str) -> str:
    text = line.text.removeprefix("- ").strip()
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = None
    if not isinstance(value, str):
        raise ConfigError(
            f"{source}:{line.number}: {line.text!r}: a bot message must be a quoted string"
        )
    return value


def _refuse_top_level(line: _Line, where: str) -> None:
    words = line.text.split()
    construct = line.text[:80]
    if words[0] == "define" and len(words) > 1 and words[1] == "user":
        raise ConfigError(
            f"{where}: {construct!r}: user intents (define user) are dialog rails; {DIALOG}"
        )
    if words[0] in _COLANG_2 or words[0].startswith("@"):
        raise ConfigError(f"{where}: {construct!r}: Colang 2.x is not supported; {DIALOG}")
    raise ConfigError(f"{where}: {construct!r} is not part of the Colang 1.0 rail subset; {DIALOG}")


def _block(lines: list[_Line], i: int, source: str) -> tuple[list[Statement], int]:
    """Statements at the indentation of ``lines[i]``, up to the first line indented less."""
    if i >= len(lines):
        return [], i
    indent = lines[i].indent
    statements: list[Statement] = []
    while i < len(lines) and lines[i].indent >= indent:
        line = lines[i]
        where = f"{source}:{line.number}"
        if line.indent > indent:
            raise ConfigError(f"{where}: {line.text!r}: unexpected indentation")
        first = line.text.split()[0]
        if first == "if":
            statement, i = _if(lines, i, indent, source)
            statements.append(statement)
            continue
        statements.append(_statement(line, where))
        i += 1
        if i < len(lines) and lines[i].indent > indent:
            raise ConfigError(
                f"{source}:{lines[i].number}: {lines[i].text!r}: unexpected indentation"
            )
    return statements, i


def _if(lines: list[_Line], i: int, indent: int, source: str) -> tuple[If, int]:
    where = f"{source}:{lines[i].number}"
    branches: list[tuple[Expression, tuple[Statement, ...]]] = []
    orelse: tuple[Statement, ...] = ()
    keyword = "if"
    while True:
        line = lines[i]
        line_where = f"{source}:{line.number}"
        condition = line.text[len(keyword) :].strip().removesuffix(":").strip()
        if keyword != "else" and not condition:
            raise ConfigError(f"{line_where}: {keyword!r} needs a condition")
        body, i = _body(lines, i, indent, source, keyword)
        if keyword == "else":
            orelse = body
            break
        branches.append((parse_expression(condition, line_where), body))
        if i >= len(lines) or lines[i].indent != indent:
            break
        words = lines[i].text.split()
        if words[:2] == ["else", "when"]:
            _statement(lines[i], f"{source}:{lines[i].number}")  # refuses it, naming it
        if words[0] == "elif":
            keyword = "elif"
        elif words[0] in ("else", "else:"):
            if lines[i].text.removesuffix(":").strip() != "else":
                raise ConfigError(
                    f"{source}:{lines[i].number}: {lines[i].text!r}: 'else' takes no condition"
                )
            keyword = "else"
        else:
            break
    return If(tuple(branches), orelse, where), i


def _body(
    lines: list[_Line], i: int, indent: int, source: str, keyword: str
) -> tuple[tuple[Statement, ...], int]:
    if i + 1 >= len(lines) or lines[i + 1].indent <= indent:
        raise ConfigError(f"{source}:{lines[i].number}: {keyword!r} needs an indented block")
    body, end = _block(lines, i + 1, source)
    return tuple(body), end


def _statement(line: _Line, where: str) -> Statement:
    text = line.text
    words = text.split()
    first = words[0]
    if text == "stop":
        return Stop(where)
    if first == "bot" and len(words) > 1:
        rest = text[3:].strip()
        variable = _VARIABLE.match(rest)
        if variable:
            return Bot(None, variable.group(1), where)
        return Bot(_name(rest, where), None, where)
    if first == "execute":
        return _execute(text[len("execute") :], None, where)
    if words[:2] == ["create", "event"]:
        return _event(text[len("create event") :].strip(), where)
    if first == "do" and " ".join(words[1:]) == MASK_BLOCKED_USER_INPUT:
        return Do(MASK_BLOCKED_USER_INPUT, where)
    if first.startswith("$") and "=" in text:
        target, _, value = text.partition("=")
        variable = _VARIABLE.match(target.strip())
        if variable and not value.startswith("="):
            value = value.strip()
            if value.split(maxsplit=1)[:1] == ["execute"]:
                return _execute(value[len("execute") :], variable.group(1), where)
            return Assign(variable.group(1), parse_expression(value, where), where)
    construct = " ".join(words[:2]) if first in ("else", "create") else first
    if first in _DIALOG_WORDS or words[:2] == ["else", "when"]:
        raise ConfigError(
            f"{where}: {construct!r}: a flow with {construct!r} lines is a dialog flow; {DIALOG}"
        )
    if first in _COLANG_2:
        raise ConfigError(f"{where}: {construct!r}: Colang 2.x is not supported; {DIALOG}")
    raise ConfigError(
        f"{where}: {text!r}: {construct!r} is not part of the Colang 1.0 rail subset; {DIALOG}"
    )


def _call_args(call_text: str, where: str, what: str) -> tuple[tuple[str, Expression], ...]:
    """``(a=1, b=$x)`` as ``(("a", 1), ("b", $x))``: keyword arguments only."""
    python = "f" + to_python(call_text)
    try:
        tree = ast.parse(python, mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"{where}: cannot read the arguments of {what}: {call_text!r}") from exc
    if not isinstance(tree, ast.Call) or tree.args or any(k.arg is None for k in tree.keywords):
        raise ConfigError(
            f"{where}: {what}: arguments must be name=value pairs (got {call_text!r})"
        )
    args = []
    for keyword in tree.keywords:
        value_source = ast.get_source_segment(python, keyword.value) or ""
        check_tree(keyword.value, value_source, where)
        args.append((str(keyword.arg), Expression(from_python(value_source), keyword.value)))
    return tuple(args)


def _execute(rest: str, target: str | None, where: str) -> Execute:
    match = _ACTION.match(rest.strip())
    if not match:
        raise ConfigError(f"{where}: 'execute{rest}': expected execute action_name(arg=value, ...)")
    name, call = match.group(1), match.group(2)
    args = _call_args(call, where, f"execute {name}") if call else ()
    return Execute(name, args, target, where)


def _event(rest: str, where: str) -> CreateEvent:
    match = _ACTION.match(rest)
    if not match or not match.group(1).endswith("Exception"):
        raise ConfigError(
            f"{where}: 'create event {rest}': only rail exceptions "
            f"(create event XxxRailException(message=...)) are supported; {DIALOG}"
        )
    name, call = match.group(1), match.group(2)
    args = _call_args(call, where, f"create event {name}") if call else ()
    return CreateEvent(name, args, where)


__all__ = ["DIALOG", "parse_colang"]
