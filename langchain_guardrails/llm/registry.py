"""Engine registry: build the chat model a ``models`` entry describes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from langchain_guardrails.config.rails_config import ModelConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.llm import engines

EngineFactory = Callable[[ModelConfig], Runnable[Any, Any]]


def _scripted(config: ModelConfig) -> Runnable[Any, Any]:
    from langchain_guardrails.testing import ScriptedChatModel

    return ScriptedChatModel(**config.parameters)


def _huggingface_pipeline(config: ModelConfig) -> Runnable[Any, Any]:
    from langchain_guardrails.llm.providers.huggingface import from_model_config

    return from_model_config(config)


_ENGINES: dict[str, EngineFactory] = {
    "scripted": _scripted,
    "openai": engines.openai,
    "nim": engines.nim,
    "vllm_openai": engines.vllm_openai,
    "nvidia_ai_endpoints": engines.nvidia_ai_endpoints,
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
    """Names usable as ``engine:``: registered engines and ``init_chat_model`` providers
    (those need their integration package installed)."""
    return sorted({*_ENGINES, *engines.providers(), *engines.ALIASES})


def build_model(config: ModelConfig, base_dir: str | None = None) -> Runnable[Any, Any]:
    """The model for one ``models`` entry; errors name the engine and the known ones.

    A ``model`` written as a relative path (``./...`` or ``../...``) is taken relative to
    ``base_dir``, the config folder, so a config folder can ship or point at its local model.
    """
    if base_dir and config.model and config.model.startswith(("./", "../")):
        config = config.model_copy(update={"model": str(Path(base_dir) / config.model)})
    factory = _ENGINES.get(config.engine) or _provider_factory(config.engine)
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


def _provider_factory(engine: str) -> EngineFactory | None:
    name = engines.ALIASES.get(engine, engine)
    if name in engines.providers() or name == "nvidia_ai_endpoints":
        return _provider_model
    return None


def _provider_model(config: ModelConfig) -> Runnable[Any, Any]:
    model = engines.provider_engine(config)
    assert model is not None  # _provider_factory checked the engine
    return model
