"""Engine registry: build the chat model a ``models`` entry describes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from ..config import ModelConfig
from ..errors import ConfigError, require

EngineFactory = Callable[[ModelConfig], Runnable[Any, Any]]


def _scripted(config: ModelConfig) -> Runnable[Any, Any]:
    from ..testing import ScriptedChatModel

    return ScriptedChatModel(**config.parameters)


def _openai(config: ModelConfig) -> Runnable[Any, Any]:
    module = require("langchain_openai", "openai")
    kwargs = dict(config.parameters)
    if config.model:
        kwargs.setdefault("model", config.model)
    if config.api_key_env_var:
        key = os.environ.get(config.api_key_env_var)
        if not key:
            raise ConfigError(f"models: environment variable {config.api_key_env_var} is not set")
        kwargs.setdefault("api_key", key)
    return module.ChatOpenAI(**kwargs)  # type: ignore[no-any-return]


def _huggingface_pipeline(config: ModelConfig) -> Runnable[Any, Any]:
    from .providers.huggingface import from_model_config

    return from_model_config(config)


_ENGINES: dict[str, EngineFactory] = {
    "scripted": _scripted,
    "openai": _openai,
    "huggingface_pipeline": _huggingface_pipeline,
}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make ``engine: <name>`` usable in ``config.yml``; ``factory`` builds the model.

    Example:
        .. code-block:: python

            register_engine("my_engine", lambda cfg: MyChatModel(model=cfg.model, **cfg.parameters))
    """
    _ENGINES[name] = factory


def registered_engines() -> list[str]:
    """Names usable as ``engine:``."""
    return sorted(_ENGINES)


def build_model(config: ModelConfig, base_dir: str | None = None) -> Runnable[Any, Any]:
    """The model for one ``models`` entry; errors name the engine and the known ones.

    A ``model`` written as a relative path (``./...`` or ``../...``) is taken relative to
    ``base_dir``, the config folder, so a config folder can ship or point at its local model.
    """
    if base_dir and config.model and config.model.startswith(("./", "../")):
        config = config.model_copy(update={"model": str(Path(base_dir) / config.model)})
    factory = _ENGINES.get(config.engine)
    if factory is None:
        raise ConfigError(
            f"models[type={config.type}]: unknown engine {config.engine!r}; "
            f"known engines: {', '.join(registered_engines())}"
        )
    try:
        return factory(config)
    except (ConfigError, ImportError):
        raise
    except Exception as exc:
        raise ConfigError(
            f"models[type={config.type}]: engine {config.engine!r} could not build the model: {exc}"
        ) from exc
