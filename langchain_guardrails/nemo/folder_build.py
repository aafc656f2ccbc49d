"""Builds a config folder piece by piece for ``check --nemo``, collecting every problem.

``RailsConfig.from_path`` and ``Guardrails`` stop at the first error, which made a migration a
loop of one fix per run. Here each piece is built on its own: the YAML is validated with the
keys that failed taken out (so the errors they hid come out too), ``actions.py`` is loaded
alone, each model is built alone (and its client too, which tells whether the first call will
fail closed: no key, no server), and each rail is resolved alone. Nothing calls a model.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from langchain_guardrails.config.nemo_keys import NemoKeyWarning, accept_nemo_keys
from langchain_guardrails.config.rails_config import (
    CONFIG_FILE_NAMES,
    ModelConfig,
    RailsConfig,
    _describe,
)
from langchain_guardrails.config.yaml_source import Located, load_yaml, merge
from langchain_guardrails.errors import ConfigError, MissingExtraError

STAGES = ("input", "output", "tool_input", "tool_output")
"""The rail stages of ``rails``, as NeMo names them."""

_PRUNE_ROUNDS = 5
"""Validation rounds, each without the keys the previous one refused: the config they end
with (defaults in place of the refused keys) is what the models and rails are built from."""

_COMPLETIONS_ONLY = re.compile(
    r"(^|/)(gpt-3\.5-turbo-instruct|davinci-002|babbage-002|text-(davinci|curie|babbage|ada)-\d+"
    r"|code-(davinci|cushman)-\d+)$"
)
"""OpenAI's completions-only models: the chat endpoint answers them with 404 (NeMo calls
them through the completions API; every model here is a chat model)."""

_CHAT_ENDPOINT_ENGINES = ("openai", "nim", "vllm_openai", "nvidia_ai_endpoints", "azure_openai")


@dataclass
class FolderBuild:
    """What building a folder piece by piece found."""

    errors: list[str] = field(default_factory=list)
    """Problems that stop the folder from building, each once, in the order found."""
    warnings: list[str] = field(default_factory=list)
    """Models that build but will fail closed at their first call, and why."""
    notes: list[str] = field(default_factory=list)
    """NeMo keys accepted with a warning (``NemoKeyWarning`` texts without their location)."""
    failed_flows: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(stage, flow)`` of each rail that did not build -> its error."""
    failed_models: dict[str, str] = field(default_factory=dict)
    """``type`` of each model that did not build -> its error."""
    failing_models: set[str] = field(default_factory=set)
    """``type`` of each model that builds but whose calls will fail (see ``warnings``)."""
    actions: tuple[Any, ...] = ()
    """The functions ``actions.py`` defined (loaded once: importing it runs its code)."""

    def add_error(self, message: str) -> None:
        """Record ``message`` (each of its lines once: a validation error lists one a line)."""
        for line in message.split("\n") if _is_validation(message) else [message]:
            if line not in self.errors:
                self.errors.append(line)


def _is_validation(message: str) -> bool:
    # Validation errors are one `file:line: key: message` a line; other errors are one text.
    return all(
        ": " in line and line.split(": ", 1)[0].rpartition(":")[2].isdigit()
        for line in message.split("\n")
    )


def build_folder(folder: Path) -> FolderBuild:
    """Every problem of ``folder``: config, ``actions.py``, models, rails, then the whole."""
    found = FolderBuild()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NemoKeyWarning)
        config = _config(folder, found)
        if config is not None:
            found.actions = tuple(config._actions)
            models = _models(config, found)
            _rails(config, models, found)
    for warning in caught:
        if issubclass(warning.category, NemoKeyWarning):
            text = str(warning.message)
            # A `file:line: ` prefix is dropped (the report names the folder); a model's is kept.
            note = text.split(": ", 1)[1] if _is_validation(text.split("\n")[0]) else text
            if note not in found.notes:
                found.notes.append(note)
    return found


def _config(folder: Path, found: FolderBuild) -> RailsConfig | None:
    """The folder's config as it loads; else the best config its valid parts make."""
    actions = folder / "actions.py"
    try:
        return RailsConfig.from_path(folder)
    except (ConfigError, MissingExtraError) as exc:
        found.add_error(str(exc))
        # actions.py already ran and failed: it is not run a second time.
        actions_failed = str(exc).startswith(str(actions))
    try:
        located = _yaml(folder)
    except ConfigError:
        return None  # unreadable YAML: the error above says where
    config = _lenient(located, found)
    if config is not None and actions.is_file() and not actions_failed:
        from langchain_guardrails.config.actions_file import load_actions_file

        try:
            config._actions = tuple(load_actions_file(actions))
        except ConfigError as exc:
            found.add_error(str(exc))
    return config


def _yaml(folder: Path) -> Located:
    # The same files in the same order as RailsConfig.from_path; .co files are its business.
    main = next(folder / n for n in CONFIG_FILE_NAMES if (folder / n).is_file())
    located = load_yaml(main.read_text(encoding="utf-8"), str(main))
    for other in sorted(folder.iterdir()):
        if other.suffix in (".yml", ".yaml") and other != main:
            merge(located, load_yaml(other.read_text(encoding="utf-8"), str(other)))
    return located


def _lenient(located: Located, found: FolderBuild) -> RailsConfig | None:
    data = accept_nemo_keys(located.data, located.where)
    data["config_path"] = str(Path(located.where(())).parent)
    for round_ in range(_PRUNE_ROUNDS):
        try:
            return RailsConfig.model_validate(data)
        except ValidationError as exc:
            if round_ == 0:
                found.add_error(_describe(exc, located))
            # Later rounds are not reported: they judge defaults that stand in for the
            # dropped keys (context_size 50 against the user's chunk_size 20), not the folder.
            for error in exc.errors():
                _drop(data, tuple(p for p in error["loc"] if p not in ("str", "FlowSpec")))
    return None


def _drop(data: Any, path: tuple[str | int, ...]) -> None:
    """Remove ``path`` from ``data`` (its default, if any, takes its place)."""
    for part in path[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    if not path:
        return
    if isinstance(data, dict):
        data.pop(path[-1], None)
    elif isinstance(data, list) and isinstance(path[-1], int) and path[-1] < len(data):
        data.pop(path[-1])


def _models(config: RailsConfig, found: FolderBuild) -> dict[str, Any]:
    """Each model built alone; its client built too, to tell a first call that will fail."""
    from langchain_guardrails.llm import build_model
    from langchain_guardrails.llm.lazy import LazyChatModel

    built: dict[str, Any] = {}
    for model in config.models:
        try:
            built[model.type] = llm = build_model(model, config.config_path)
        except (ConfigError, MissingExtraError) as exc:
            found.add_error(str(exc))
            found.failed_models[model.type] = str(exc)
            continue
        if isinstance(llm, LazyChatModel):
            try:
                llm.client  # noqa: B018 - building the client is the check
            except Exception as exc:  # any provider error: reported, never raised
                found.warnings.append(f"{_first_call(exc)} (every call to it will fail closed)")
                found.failing_models.add(model.type)
        warning = completions_only(model)
        if warning is not None:
            found.warnings.append(warning)
            found.failing_models.add(model.type)
    return built


def _first_call(exc: Exception) -> str:
    # A provider's own message after ours (`... could not build the model: <why>`) is enough.
    return str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"


def completions_only(model: ModelConfig) -> str | None:
    """The warning for a completions-only model sent to a chat endpoint, if ``model`` is one."""
    name = model.model or model.parameters.get("model") or model.parameters.get("model_name")
    if model.engine not in _CHAT_ENDPOINT_ENGINES or not name:
        return None
    if not _COMPLETIONS_ONLY.search(str(name)):
        return None
    return (
        f"models[type={model.type}]: {name!r} is a completions-only model; it is called here "
        "through the chat endpoint, which refuses it: every call will fail closed (use a chat "
        "model, e.g. gpt-4o-mini)"
    )


def _rails(config: RailsConfig, models: dict[str, Any], found: FolderBuild) -> None:
    """Each rail resolved alone, then the whole guard (checks across rails)."""
    from langchain_guardrails.engine.rail_engine import RailEngine, parse_flow

    for stage, entry in _entries(config):
        alone = config.model_copy(update={"rails": _only(config, stage, entry)})
        try:
            RailEngine(alone, llms=lambda: models)
        except ConfigError as exc:
            found.add_error(str(exc))
            found.failed_flows[(stage, parse_flow(entry)[0])] = str(exc)
    if found.errors:
        return  # the whole would fail on one of the errors already listed
    from langchain_guardrails.guard.chat_model import Guardrails
    from langchain_guardrails.testing import FakeStreamingChatModel

    # A stand-in model when the folder names none: the rails are what is checked.
    llm = None if "main" in models else FakeStreamingChatModel(text="")
    try:
        Guardrails(llm=llm, config=config)
    except (ConfigError, MissingExtraError) as exc:
        found.add_error(str(exc))


def _entries(config: RailsConfig) -> Iterator[tuple[str, Any]]:
    for stage in STAGES:
        for entry in getattr(config.rails, stage).flows:
            yield stage, entry


def _only(config: RailsConfig, stage: str, entry: Any) -> Any:
    rails = config.rails
    update: dict[str, Any] = {}
    for name in STAGES:
        section = getattr(rails, name)
        changes: dict[str, Any] = {"flows": [entry] if name == stage else []}
        if name.startswith("tool_"):
            changes["per_tool"] = {}  # checked with the whole guard, after the flows
        update[name] = section.model_copy(update=changes)
    return rails.model_copy(update=update)


__all__ = ["STAGES", "FolderBuild", "build_folder", "completions_only"]
