"""Configs are code, but one config's code may not change how another config is checked.

An ``actions.py`` runs with the server's rights (see the trust model in docs/gateway/security.md):
nothing here is a sandbox. What this module stops is the accident, or the shortcut, of one config's
code patching an object of this package that every config shares: ``BUILTIN_RAILS``, the engine's
methods, a module-level table. :func:`unchanged_package` snapshots the package's module
globals, the attributes of its classes and the contents of its module-level dicts, lists and
sets before the file runs; if the file changed any of them, everything is put back and the
config fails to load with an error naming the file and what it changed.

Patches made later, when an action *runs*, are not seen; actions are imported when the
server starts (and at reload), so code at the top of a file is checked before traffic.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_guardrails.errors import ConfigError

PACKAGE = "langchain_guardrails"
_CONTENTS = "<contents>"
Place = tuple[str, ...]


class ActionsFileError(ConfigError):
    """A config folder's ``actions.py`` could not be imported (the message names the file)."""


class SharedStateChanged(ActionsFileError):
    """An ``actions.py`` changed an object of this package that every config shares."""


def _ours() -> list[tuple[str, ModuleType]]:
    return [
        (name, module)
        for name, module in list(sys.modules.items())
        if isinstance(module, ModuleType) and (name == PACKAGE or name.startswith(PACKAGE + "."))
    ]


def _method(value: Any) -> bool:
    return inspect.isfunction(value) or isinstance(value, staticmethod | classmethod | property)


def _snapshot() -> dict[Place, Any]:
    """``place -> value`` of the shared objects an import could patch: public module globals,
    the methods of the package's classes, and the contents of its public constant tables
    (UPPER_CASE dicts, lists, sets). Private runtime state (counters, pools, caches) changes
    under traffic by design and is left out."""
    seen: dict[Place, Any] = {}
    for name, module in _ours():
        for attr, value in list(vars(module).items()):
            if not attr.startswith("_"):
                seen[(name, attr)] = value
            if attr.isupper() and isinstance(value, dict | list | set):
                seen[(name, attr, _CONTENTS)] = value.copy()
            elif isinstance(value, type) and value.__module__ == name:
                for member, inner in list(vars(value).items()):
                    if _method(inner):
                        seen[(name, attr, member)] = inner
    return seen


def _changes(before: dict[Place, Any]) -> list[Place]:
    after = _snapshot()
    modules = {place[0] for place in before}
    changed = []
    for place, value in before.items():
        if place[-1] == _CONTENTS:
            current = after.get(place)
            if current is not None and current != value:
                changed.append(place)
        elif place not in after or after[place] is not value:
            changed.append(place)
    # New names in modules that were there before (importing a submodule adds its name).
    changed.extend(
        place
        for place, value in after.items()
        if place not in before
        and place[0] in modules
        and place[-1] != _CONTENTS
        and not isinstance(value, ModuleType)
    )
    return changed


def _restore(before: dict[Place, Any], changed: list[Place]) -> None:
    for place in changed:
        module = sys.modules.get(place[0])
        if module is None:
            continue
        owner: Any = module if len(place) == 2 else getattr(module, place[1])
        if place[-1] == _CONTENTS:
            if not isinstance(owner, dict | list | set):
                continue  # the table itself was rebound, and that is undone above
            if isinstance(owner, list):
                owner[:] = before[place]
            else:
                owner.clear()
                owner.update(before[place])
        elif place in before:
            setattr(owner, place[-1], before[place])
        else:
            delattr(owner, place[-1])


@contextmanager
def unchanged_package(path: Path) -> Iterator[None]:
    """Run the block (an ``actions.py`` import); if it changed a shared object of this package,
    put it back and raise :class:`ConfigError` naming ``path`` and the change.

    Example:
        .. code-block:: python

            with unchanged_package(folder / "actions.py"):
                spec.loader.exec_module(module)
    """
    before = _snapshot()
    try:
        yield
    finally:
        # Also when the import failed: what it changed before failing is undone too.
        changed = _changes(before)
        _restore(before, changed)
    if changed:
        shown = ", ".join(
            ".".join(place).replace(f".{_CONTENTS}", "[...]") for place in changed[:3]
        )
        raise SharedStateChanged(
            f"{path}: importing it changed objects of langchain_guardrails that every config "
            f"shares ({shown}); a config's code may not change how other configs are checked "
            "(the change was undone)"
        )


__all__ = ["ActionsFileError", "SharedStateChanged", "unchanged_package"]
