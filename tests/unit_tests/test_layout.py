"""The package's layout holds: rooms that import one way, no import circle, small modules, a
short root, a docstring on every room, and every public import path of DESIGN.md."""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "langchain_guardrails"
NAME = "langchain_guardrails"

# Floors from the bottom: a room may import its own floor and the floors below it.
FLOORS: list[set[str]] = [
    {"errors"},
    {"colang", "config", "testing"},
    {"observability"},
    {"rails"},
    {"engine"},
    {"streaming"},
    {"llm"},
    {"guard"},
    {"server.upstream", "server.operations"},
    {"server.protocol", "server.langserve"},
    {"agents", "nemo", "eval", "server", "server.console"},
    {"cli", "actions", "middleware", "integrations"},
    {"ROOT", "__main__"},
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every package module ``module`` imports: at the top, in functions, under TYPE_CHECKING."""
    is_package = path.name == "__init__.py"
    base = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                source = f"{parent}.{node.module}" if node.module else parent
            else:
                source = node.module or ""
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                for alias in node.names
            ]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and name.startswith(NAME):
                targets.add(name)
    return targets


def room_of(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return "ROOT"
    if parts[0] == "server" and len(parts) > 2:
        return f"server.{parts[1]}"
    return parts[0]


GRAPH = {m: imports_of(m, p, modules()) for m, p in modules().items()}


def test_no_import_circle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert circles == []


def test_rooms_import_one_way() -> None:
    upward: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            here, there = room_of(module), room_of(target)
            if here != there and FLOOR[there] > FLOOR[here]:
                upward[module].add(target)
    assert dict(upward) == {}


def test_every_room_is_on_a_floor_and_says_what_it_holds() -> None:
    rooms = {room_of(module) for module in GRAPH}
    assert rooms <= set(FLOOR), rooms - set(FLOOR)
    for init in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 40, init


def test_modules_are_small_and_the_root_is_short() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 12, root_modules


@pytest.mark.parametrize(
    ("path", "names"),
    [
        (NAME, ["Guardrails", "RailsConfig", "LLMRails", "GuardrailsViolation"]),
        (f"{NAME}.streaming", ["StreamingHandler"]),
        (f"{NAME}.actions", ["action"]),
        (
            f"{NAME}.llm.providers.huggingface",
            ["HuggingFacePipelineCompatible", "AsyncTextIteratorStreamer"],
        ),
        (f"{NAME}.server", ["create_app"]),
        (f"{NAME}.middleware", ["GuardrailsMiddleware"]),
        (f"{NAME}.integrations.langchain", ["RunnableRails"]),
        (f"{NAME}.testing", ["FakeStreamingChatModel"]),
    ],
)
def test_public_import_paths_of_design_md(path: str, names: list[str]) -> None:
    module = importlib.import_module(path)
    for name in names:
        assert callable(getattr(module, name)), f"{path}.{name}"
        assert name in module.__all__, f"{path}.__all__ lacks {name}"
