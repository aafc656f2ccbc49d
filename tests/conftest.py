"""The ``requires(pkg)`` marker: a test of an optional extra is skipped when the package is not
installed, except in CI, which installs every extra (there a missing package must fail)."""

from __future__ import annotations

import importlib.util
import os

import pytest


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package of a dotted name
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CI"):
        return
    for item in items:
        for mark in item.iter_markers("requires"):
            missing = [name for name in mark.args if not _installed(name)]
            if missing:
                item.add_marker(
                    pytest.mark.skip(reason=f"needs {', '.join(missing)} (an optional extra)")
                )
