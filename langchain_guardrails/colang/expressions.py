"""Colang 1.0 expressions, parsed and evaluated without ``eval``.

``$name`` variables are renamed to Python identifiers outside string literals, the text is
parsed by :mod:`ast`, and only a whitelist of nodes is accepted: literals, lists, tuples and
dicts, ``$var`` with ``.attr`` and ``[key]``, ``not`` / ``and`` / ``or``, comparisons
(``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``, ``is``), ``+ - * / %``, unary
minus and ``len(...)``. Evaluation walks the tree; attributes starting with ``_`` are never
read, a missing variable, key or attribute is ``None`` (as an unset context variable is in
NeMo).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_guardrails.errors import ConfigError

_PREFIX = "_colang_var_"
"""What ``$`` becomes in the Python text ``ast`` parses."""
_CONSTANTS = {"True": True, "False": False, "None": None, "true": True, "false": False}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"len": len}
_ALLOWED = (
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.Compare,
    ast.cmpop,
    ast.Load,
)


class ColangRuntimeError(Exception):
    """An expression failed while a flow ran (e.g. ``None > 3``); the rail fails closed."""


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """One parsed expression and the text it came from."""

    source: str
    tree: ast.expr = field(repr=False)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value of the expression with ``variables`` (names without ``$``)."""
        try:
            return _value(self.tree, variables)
        except ColangRuntimeError:
            raise
        except Exception as exc:
            # The type only: operands may be user or model text.
            raise ColangRuntimeError(
                f"expression {self.source!r} failed: {type(exc).__name__}"
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and self.source == other.source

    def __hash__(self) -> int:
        return hash(self.source)


def to_python(source: str) -> str:
    """``source`` with each ``$name`` outside string literals renamed to an identifier."""
    out: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char in "\"'":
            end = i + 1
            while end < len(source) and source[end] != char:
                end += 2 if source[end] == "\\" else 1
            out.append(source[i : end + 1])
            i = end + 1
        elif char == "$":
            out.append(_PREFIX)
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def variable_name(node: ast.expr) -> str | None:
    """The Colang variable a ``Name`` node stands for, if it is one."""
    if isinstance(node, ast.Name) and node.id.startswith(_PREFIX):
        return node.id.removeprefix(_PREFIX)
    return None


def parse_expression(source: str, where: str) -> Expression:
    """Parse ``source``; a syntax error or a construct outside the subset is a ``ConfigError``
    naming ``where`` (``file:line``)."""
    try:
        tree = ast.parse(to_python(source.strip()), mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"{where}: cannot read the expression {source.strip()!r}") from exc
    check_tree(tree, source.strip(), where)
    return Expression(source.strip(), tree)


def check_tree(tree: ast.expr, source: str, where: str) -> None:
    """Refuse every node outside the subset, naming it."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if variable_name(node) is not None or node.id in _CONSTANTS:
                continue
            if node.id in _FUNCTIONS and id(node) in called:
                continue
            raise ConfigError(
                f"{where}: {source!r}: unknown name {node.id!r} (variables start with $)"
            )
        if isinstance(node, ast.Call):
            ok = isinstance(node.func, ast.Name) and len(node.args) == 1 and not node.keywords
        elif isinstance(node, ast.BinOp):
            ok = type(node.op) in _BINARY
        elif isinstance(node, ast.operator):
            ok = type(node) in _BINARY
        elif isinstance(node, ast.Attribute):
            ok = not node.attr.startswith("_")
        elif isinstance(node, ast.Subscript):
            ok = not isinstance(node.slice, ast.Slice)
        else:
            ok = isinstance(node, _ALLOWED)
        if not ok:
            raise ConfigError(
                f"{where}: {source!r}: {type(node).__name__} is not part of the Colang "
                "expressions supported here (literals, $variables, .attr, [key], not, and, or, "
                "comparisons, in, + - * / %, len())"
            )


def _value(node: ast.expr, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        name = variable_name(node)
        if name is not None:
            return variables.get(name)
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BoolOp):
        result: Any = None
        for operand in node.values:
            result = _value(operand, variables)
            # Short-circuit like Python (and NeMo, which evaluates with Python semantics).
            if isinstance(node.op, ast.And) != bool(result):
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, variables)
        return (not operand) if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.Compare):
        left = _value(node.left, variables)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _value(right_node, variables)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_value(node.left, variables), _value(node.right, variables))
    if isinstance(node, ast.Attribute):
        return member(_value(node.value, variables), node.attr)
    if isinstance(node, ast.Subscript):
        container = _value(node.value, variables)
        key = _value(node.slice, variables)
        if isinstance(container, Mapping):
            return container.get(key)
        try:
            return container[key]
        except (IndexError, KeyError, TypeError):
            return None
    if isinstance(node, ast.List):
        return [_value(item, variables) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(item, variables) for item in node.elts)
    if isinstance(node, ast.Dict):
        return {
            _value(k, variables) if k is not None else None: _value(v, variables)
            for k, v in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _FUNCTIONS[node.func.id](_value(node.args[0], variables))
    raise ColangRuntimeError(f"unsupported node {type(node).__name__}")  # refused at parse


def member(value: Any, name: str) -> Any:
    """``value.name`` as Colang reads it: a mapping's key, else a public attribute; missing
    is ``None``."""
    if name.startswith("_"):
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def from_python(text: str) -> str:
    """The Colang text of a fragment of :func:`to_python`'s output."""
    return text.replace(_PREFIX, "$")


__all__ = [
    "ColangRuntimeError",
    "Expression",
    "from_python",
    "member",
    "parse_expression",
    "to_python",
]
