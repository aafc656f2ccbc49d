"""Loading a config folder's ``actions.py``: its ``@action`` functions, and NeMo Guardrails'
``@action`` functions adapted, with the package's shared state guarded while the file runs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_guardrails.config.action_isolation import (
    ActionsFileError,
    SharedStateChanged,
    unchanged_package,
)
from langchain_guardrails.config.actions import ActionSpec
from langchain_guardrails.config.nemo_actions import adapted_actions, nemo_imports
from langchain_guardrails.errors import ConfigError


def load_actions_file(path: Path) -> list[Callable[..., Any]]:
    """Import ``actions.py`` from a config folder and return its ``@action`` functions.

    This runs the file's code: a config folder is code, load only folders you trust.
    """
    module_name = f"langchain_guardrails_user_actions_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # NeMo's `from nemoguardrails.actions import action` works while the file loads.
    try:
        with nemo_imports(), unchanged_package(path):
            spec.loader.exec_module(module)
    except SharedStateChanged:
        sys.modules.pop(module_name, None)
        raise
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ActionsFileError(f"{path}: importing it failed: {exc!r}") from exc
    values = list(vars(module).values())
    ours = [
        value
        for value in values
        if isinstance(getattr(value, "__guardrails_action__", None), ActionSpec)
    ]
    taken = {id(value) for value in ours}
    return ours + adapted_actions([v for v in values if id(v) not in taken])


__all__ = ["load_actions_file"]
