"""YAML loading that remembers where every key came from, so errors can name file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from langchain_guardrails.errors import ConfigError

Path = tuple[str | int, ...]

MAX_YAML_BYTES = 1024 * 1024
"""Largest YAML document read (a config is a few kilobytes)."""
MAX_YAML_NODES = 100_000
"""Most values a document may expand to, counting each use of an alias (billion laughs)."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of a document (an alias inside itself, ``&a [*a]``, is infinitely deep)."""


@dataclass
class Located:
    """Plain data loaded from YAML plus the ``(file, line)`` of each key path in it."""

    data: dict[str, Any]
    lines: dict[Path, tuple[str, int]] = field(default_factory=dict)

    def where(self, path: Path) -> str:
        """``file:line`` of the longest known prefix of ``path`` (or just the file)."""
        for end in range(len(path), -1, -1):
            hit = self.lines.get(path[:end])
            if hit is not None:
                return f"{hit[0]}:{hit[1]}"
        return self.lines.get((), ("<config>", 0))[0]


def load_yaml(text: str, source: str) -> Located:
    """Parse ``text`` (from ``source``) into a mapping and its key locations."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: larger than the limit of {MAX_YAML_BYTES} bytes")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{line}: malformed YAML: {problem}") from exc
    located = Located(data={}, lines={(): (source, 1)})
    if node is None:
        return located
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{source}:{node.start_mark.line + 1}: the top level must be a mapping")
    budget = _Budget(source)
    located.data = _convert(node, (), source, located.lines, yaml.SafeLoader(""), budget)
    return located


class _Budget:
    __slots__ = ("left", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.left = MAX_YAML_NODES

    def spend(self, node: yaml.Node, path: Path) -> None:
        line = node.start_mark.line + 1
        if len(path) > MAX_YAML_DEPTH:
            raise ConfigError(
                f"{self.source}:{line}: nested deeper than {MAX_YAML_DEPTH} levels "
                "(an alias used inside its own anchor?)"
            )
        self.left -= 1
        if self.left < 0:
            raise ConfigError(
                f"{self.source}:{line}: expands to more than {MAX_YAML_NODES} values "
                "(too many aliases)"
            )


def _convert(
    node: yaml.Node,
    path: Path,
    source: str,
    lines: dict[Path, tuple[str, int]],
    loader: yaml.SafeLoader,
    budget: _Budget,
) -> Any:
    budget.spend(node, path)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*path, key)
            if key in out:
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            lines[child] = (source, key_node.start_mark.line + 1)
            out[key] = _convert(value_node, child, source, lines, loader, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = (source, item.start_mark.line + 1)
            items.append(_convert(item, (*path, index), source, lines, loader, budget))
        return items
    return loader.construct_object(node, deep=True)


def merge(into: Located, other: Located) -> None:
    """Merge ``other`` into ``into``: lists concatenate, mappings merge, scalars must agree."""
    _merge_dict(into.data, other.data, (), into, other)


def _merge_dict(a: dict[str, Any], b: dict[str, Any], path: Path, la: Located, lb: Located) -> None:
    for key, value in b.items():
        child = (*path, key)
        if key not in a:
            a[key] = value
            _copy_lines(lb, la, child, child)
        elif isinstance(a[key], dict) and isinstance(value, dict):
            _merge_dict(a[key], value, child, la, lb)
        elif isinstance(a[key], list) and isinstance(value, list):
            offset = len(a[key])
            a[key].extend(value)
            for index in range(len(value)):
                _copy_lines(lb, la, (*child, index), (*child, offset + index))
        elif a[key] != value:
            raise ConfigError(
                f"{lb.where(child)}: {'.'.join(map(str, child))}: conflicts with the value "
                f"set at {la.where(child)}"
            )


def _copy_lines(src: Located, dst: Located, src_path: Path, dst_path: Path) -> None:
    n = len(src_path)
    for path, where in src.lines.items():
        if path[:n] == src_path:
            dst.lines[dst_path + path[n:]] = where
