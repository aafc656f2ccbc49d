"""Provider engines: ``openai``, ``nim``, ``vllm_openai``, ``nvidia_ai_endpoints`` and every
provider LangChain's ``init_chat_model`` knows (``anthropic``, ``ollama``, ...).

Each engine checks its entry when the config is built (package installed, server URL given)
and returns a :class:`~langchain_guardrails.llm.lazy.LazyChatModel`: credentials are read
only when the model is first called, so ``langchain-guardrails check`` and ``server`` start
without them.

NeMo Guardrails' parameter names are accepted as they are (``openai_api_base``,
``openai_api_key``, ``model_name``): the OpenAI client takes them as aliases.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import warnings
from typing import Any

from langchain_core.runnables import Runnable

from langchain_guardrails.config.nemo_keys import NemoKeyWarning
from langchain_guardrails.config.rails_config import ModelConfig
from langchain_guardrails.errors import ConfigError, require
from langchain_guardrails.llm.lazy import Builder, LazyChatModel

log = logging.getLogger("langchain_guardrails.llm")

NVIDIA_BASE_URL = "https://integrate.api.nvidia.com/v1"
"""NVIDIA's hosted OpenAI-compatible endpoint (``nim`` / ``nvidia_ai_endpoints`` default)."""

# Provider -> (module, class). LangChain's own table is used when `langchain` is installed;
# this copy keeps the common providers working without it.
_PROVIDERS: dict[str, tuple[str, str]] = {
    "anthropic": ("langchain_anthropic", "ChatAnthropic"),
    "azure_openai": ("langchain_openai", "AzureChatOpenAI"),
    "bedrock": ("langchain_aws", "ChatBedrock"),
    "bedrock_converse": ("langchain_aws", "ChatBedrockConverse"),
    "cohere": ("langchain_cohere", "ChatCohere"),
    "deepseek": ("langchain_deepseek", "ChatDeepSeek"),
    "fireworks": ("langchain_fireworks", "ChatFireworks"),
    "google_genai": ("langchain_google_genai", "ChatGoogleGenerativeAI"),
    "google_vertexai": ("langchain_google_vertexai", "ChatVertexAI"),
    "groq": ("langchain_groq", "ChatGroq"),
    "mistralai": ("langchain_mistralai", "ChatMistralAI"),
    "ollama": ("langchain_ollama", "ChatOllama"),
    "together": ("langchain_together", "ChatTogether"),
    "xai": ("langchain_xai", "ChatXAI"),
}
ALIASES = {"azure": "azure_openai", "vertexai": "google_vertexai", "nvidia": "nvidia_ai_endpoints"}
"""NeMo Guardrails' engine names for providers LangChain names differently."""


def providers() -> dict[str, tuple[str, str]]:
    """Providers usable as ``engine:`` through ``init_chat_model``: module and class."""
    table = dict(_PROVIDERS)
    try:
        from langchain.chat_models import base
    except ImportError:
        return table
    builtin = getattr(base, "_BUILTIN_PROVIDERS", {})  # private: read defensively
    for name, entry in builtin.items():
        if isinstance(entry, tuple) and len(entry) >= 2:
            table.setdefault(name, (str(entry[0]), str(entry[1])))
    return table


def pip_name(module: str) -> str:
    """The PyPI package of a module: ``langchain_anthropic`` -> ``langchain-anthropic``."""
    return module.split(".", 1)[0].replace("_", "-")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module.split(".", 1)[0]) is not None
    except (ImportError, ValueError):
        return False


def _where(config: ModelConfig) -> str:
    return f"models[type={config.type}]"


def _name(config: ModelConfig) -> str | None:
    value = config.model or config.parameters.get("model") or config.parameters.get("model_name")
    return str(value) if value else None


def _env_key(config: ModelConfig) -> str | None:
    """The API key named by ``api_key_env_var``; an error at the first call when unset."""
    if not config.api_key_env_var:
        return None
    key = os.environ.get(config.api_key_env_var)
    if not key:
        raise ConfigError(
            f"{_where(config)}: environment variable {config.api_key_env_var} is not set"
        )
    return key


def _openai_kwargs(config: ModelConfig) -> dict[str, Any]:
    kwargs = dict(config.parameters)
    if config.model:
        kwargs.setdefault("model", config.model)
    return kwargs


def _accepted(chat_class: type) -> frozenset[str]:
    """The keyword arguments a pydantic chat class takes: field names and their aliases."""
    names: set[str] = set()
    for name, info in getattr(chat_class, "model_fields", {}).items():
        names.add(name)
        alias = info.validation_alias
        choices = getattr(alias, "choices", (alias,)) if alias is not None else ()
        names.update(a for a in (info.alias, *choices) if isinstance(a, str))
    return frozenset(names)


def _known_parameters(
    config: ModelConfig, chat_class: type, engine: str, *, server: bool
) -> ModelConfig:
    """``config`` with the ``parameters`` ``chat_class`` does not take moved or dropped.

    ``ChatOpenAI`` moves an unknown keyword into ``model_kwargs``, and the OpenAI client then
    raises ``TypeError`` at every call (NeMo's ``repo_id`` of a Hugging Face engine; the
    ``chat_template_kwargs`` and ``request_categories`` of a Nemotron content-safety NIM):
    the model would fail closed forever. A ``server`` (NIM, vLLM, any ``base_url``) takes
    such keys in the request body, as NeMo's NVIDIA client sends them: they go into
    ``extra_body``. OpenAI's own API refuses them: they are dropped with a warning each.
    """
    accepted = _accepted(chat_class)
    unknown = [k for k in config.parameters if accepted and k not in accepted]
    if not unknown:
        return config
    kept = {k: v for k, v in config.parameters.items() if k not in unknown}
    if server:
        extra = dict(kept.get("extra_body") or {})
        kept["extra_body"] = {**{k: config.parameters[k] for k in unknown}, **extra}
        return config.model_copy(update={"parameters": kept})
    for key in unknown:
        warnings.warn(
            f"{_where(config)}: parameters.{key}: not a parameter of {chat_class.__name__} "
            f"(engine {engine!r}): dropped, it would make every call fail; a server's own "
            "keys reach it with parameters.base_url (in the request body)",
            NemoKeyWarning,
            stacklevel=3,
        )
    return config.model_copy(update={"parameters": kept})


def _has_key(kwargs: dict[str, Any]) -> bool:
    return any(kwargs.get(k) for k in ("api_key", "openai_api_key"))


def openai(config: ModelConfig) -> Runnable[Any, Any]:
    """``engine: openai``: ``ChatOpenAI`` (``OPENAI_API_KEY`` or ``api_key_env_var``)."""
    module = require("langchain_openai", "openai")
    config = _known_parameters(
        config, module.ChatOpenAI, "openai", server=_base_url(config) is not None
    )

    def build() -> Runnable[Any, Any]:
        kwargs = _openai_kwargs(config)
        key = _env_key(config)
        if key and not _has_key(kwargs):
            kwargs["api_key"] = key
        return module.ChatOpenAI(**kwargs)  # type: ignore[no-any-return]

    return _lazy(config, "openai", build)


def _base_url(config: ModelConfig) -> str | None:
    value = config.parameters.get("base_url") or config.parameters.get("openai_api_base")
    return str(value) if value else None


def _openai_compatible(
    config: ModelConfig, *, engine: str, base_url: str, key_env: str | None
) -> Runnable[Any, Any]:
    """``ChatOpenAI`` against an OpenAI-compatible server at ``base_url``."""
    module = require("langchain_openai", "openai")
    if not _name(config):
        raise ConfigError(f"{_where(config)}: engine {engine!r} needs `model`")
    config = _known_parameters(config, module.ChatOpenAI, engine, server=True)

    def build() -> Runnable[Any, Any]:
        kwargs = _openai_kwargs(config)
        kwargs.pop("openai_api_base", None)
        kwargs["base_url"] = base_url
        if not _has_key(kwargs):
            key = _env_key(config) or (os.environ.get(key_env) if key_env else None)
            if key is None and key_env is not None:
                raise ConfigError(
                    f"{_where(config)}: engine {engine!r} at {base_url} needs an API key: set "
                    f"{key_env} (or name another variable with api_key_env_var)"
                )
            # Self-hosted servers (vLLM, NIM containers) usually take any key.
            kwargs["api_key"] = key or "EMPTY"
        return module.ChatOpenAI(**kwargs)  # type: ignore[no-any-return]

    return _lazy(config, engine, build)


def vllm_openai(config: ModelConfig) -> Runnable[Any, Any]:
    """``engine: vllm_openai``: a vLLM server (``parameters.openai_api_base`` or ``base_url``)."""
    url = _base_url(config)
    if url is None:
        raise ConfigError(
            f"{_where(config)}: engine 'vllm_openai' needs parameters.openai_api_base (or "
            "base_url): the URL of the vLLM server, e.g. http://localhost:8000/v1"
        )
    return _openai_compatible(config, engine="vllm_openai", base_url=url, key_env=None)


def nim(config: ModelConfig) -> Runnable[Any, Any]:
    """``engine: nim``: a NIM container at ``parameters.base_url``, else NVIDIA's hosted
    endpoint (which needs ``NVIDIA_API_KEY``)."""
    url = _base_url(config)
    if url is None:
        return _openai_compatible(
            config, engine="nim", base_url=NVIDIA_BASE_URL, key_env="NVIDIA_API_KEY"
        )
    return _openai_compatible(config, engine="nim", base_url=url, key_env=None)


def nvidia_ai_endpoints(config: ModelConfig) -> Runnable[Any, Any]:
    """``engine: nvidia_ai_endpoints``: ``ChatNVIDIA`` when ``langchain-nvidia-ai-endpoints`` is
    installed, else ``ChatOpenAI`` against NVIDIA's OpenAI-compatible endpoint (or
    ``parameters.base_url``), with a warning saying so."""
    if _installed("langchain_nvidia_ai_endpoints"):
        return _provider(
            config, "nvidia_ai_endpoints", "langchain_nvidia_ai_endpoints", "ChatNVIDIA"
        )
    url = _base_url(config) or NVIDIA_BASE_URL
    log.warning(
        "%s: langchain-nvidia-ai-endpoints is not installed; engine 'nvidia_ai_endpoints' "
        "uses ChatOpenAI against the OpenAI-compatible endpoint %s (install "
        "langchain-nvidia-ai-endpoints for NVIDIA's own client)",
        _where(config),
        url,
    )
    key_env = "NVIDIA_API_KEY" if url == NVIDIA_BASE_URL else None
    return _openai_compatible(config, engine="nvidia_ai_endpoints", base_url=url, key_env=key_env)


def _provider(config: ModelConfig, engine: str, module: str, cls: str) -> Runnable[Any, Any]:
    if not _installed(module):
        package = pip_name(module)
        raise ConfigError(
            f"{_where(config)}: engine {engine!r} needs the package {package}; install it "
            f"with `pip install {package}`"
        )
    if not _name(config):
        raise ConfigError(f"{_where(config)}: engine {engine!r} needs `model`")

    def build() -> Runnable[Any, Any]:
        kwargs = dict(config.parameters)
        kwargs.pop("model", None)
        kwargs.pop("model_name", None)
        key = _env_key(config)
        if key and "api_key" not in kwargs:
            kwargs["api_key"] = key
        chat_class = getattr(importlib.import_module(module), cls)
        return chat_class(model=_name(config), **kwargs)  # type: ignore[no-any-return]

    return _lazy(config, engine, build)


def _lazy(config: ModelConfig, engine: str, build: Builder) -> LazyChatModel:
    """A model built at its first call; a failure then names the entry and the engine."""

    def checked() -> Runnable[Any, Any]:
        try:
            return build()
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"{_where(config)}: engine {engine!r} could not build the model: {exc}"
            ) from exc

    return LazyChatModel(build=checked, provider=engine, model_name=_name(config))


def provider_engine(config: ModelConfig) -> Runnable[Any, Any] | None:
    """The model of an ``init_chat_model`` provider engine, or None if the engine is not one."""
    engine = ALIASES.get(config.engine, config.engine)
    if engine == "nvidia_ai_endpoints":
        return nvidia_ai_endpoints(config)
    entry = providers().get(engine)
    if entry is None:
        return None
    return _provider(config, config.engine, *entry)


__all__ = [
    "ALIASES",
    "NVIDIA_BASE_URL",
    "nim",
    "nvidia_ai_endpoints",
    "openai",
    "pip_name",
    "provider_engine",
    "providers",
    "vllm_openai",
]
