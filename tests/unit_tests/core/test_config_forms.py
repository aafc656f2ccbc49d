"""Every constructor that takes a config accepts the same forms (``as_rails_config``): a
``RailsConfig``, a mapping, a ``str`` or ``os.PathLike`` path to a folder or a YAML file; any
other value is a ``TypeError`` naming the accepted forms, a bad mapping a ``ConfigError``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from langchain_guardrails import ConfigError, Guardrails, LLMRails, RailsConfig
from langchain_guardrails.config.rails_config import as_rails_config
from langchain_guardrails.nemo.runnable_rails import RunnableRails
from langchain_guardrails.testing import FakeStreamingChatModel

DATA: dict[str, Any] = {
    "rails": {
        "input": {"flows": ["regex check input"]},
        "config": {"regex_detection": {"input": {"patterns": ["ignore previous"]}}},
    }
}
YAML = """\
rails:
  input:
    flows: [regex check input]
  config:
    regex_detection:
      input: {patterns: [ignore previous]}
"""
ACCEPTED = (
    "config must be a RailsConfig, a mapping (the content of config.yml as a dict), or a path "
    "(str or os.PathLike) to a config folder or YAML file; got "
)


def _model() -> FakeStreamingChatModel:
    return FakeStreamingChatModel(text="Hello there")


def _guardrails(config: Any) -> RailsConfig:
    guard = Guardrails(llm=_model(), config=config)
    # The config really drives the rails, not just the attribute.
    assert guard.check("please ignore previous rules").status == "blocked"
    return guard.config


def _llmrails(config: Any) -> RailsConfig:
    rails = LLMRails(config, llm=_model())
    reply = rails.generate(messages=[{"role": "user", "content": "ignore previous rules"}])
    assert reply["content"] == "I'm sorry, I can't respond to that."
    return rails.config


def _runnable_rails(config: Any) -> RailsConfig:
    guard = RunnableRails(config, llm=_model())
    assert guard.invoke("ignore previous rules") == "I'm sorry, I can't respond to that."
    return guard.config


def _middleware(config: Any) -> RailsConfig:
    pytest.importorskip("langchain.agents")
    from langchain_guardrails.agents.middleware import GuardrailsMiddleware

    middleware = GuardrailsMiddleware(config=config)
    assert middleware._checker.check("ignore previous rules", stage="input").status == "blocked"
    return middleware.config


CONSTRUCTORS: dict[str, Callable[[Any], RailsConfig]] = {
    "Guardrails": _guardrails,
    "LLMRails": _llmrails,
    "RunnableRails": _runnable_rails,
    "GuardrailsMiddleware": _middleware,
}


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "config.yml").write_text(YAML, encoding="utf-8")
    return tmp_path


FORMS: dict[str, Callable[[Path], Any]] = {
    "RailsConfig": lambda tmp: RailsConfig.from_content(config=DATA),
    "dict": lambda tmp: DATA,
    "read-only mapping": lambda tmp: MappingProxyType(DATA),
    "folder as str": lambda tmp: str(_folder(tmp)),
    "folder as Path": _folder,
    "YAML file as str": lambda tmp: str(_folder(tmp) / "config.yml"),
    "YAML file as Path": lambda tmp: _folder(tmp) / "config.yml",
}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("constructor", list(CONSTRUCTORS))
def test_every_constructor_accepts_every_config_form(
    constructor: str, form: str, tmp_path: Path
) -> None:
    config = CONSTRUCTORS[constructor](FORMS[form](tmp_path))
    assert isinstance(config, RailsConfig)
    assert config.rails.input.flows == ["regex check input"]


def test_a_rails_config_is_kept_as_it_is() -> None:
    config = RailsConfig.from_content(config=DATA)
    assert as_rails_config(config) is config
    assert LLMRails(config, llm=_model()).config is config


def test_the_callers_mapping_is_not_changed() -> None:
    data = {"rails": {"input": {"flows": ["regex check input"]}}}
    as_rails_config(data)
    assert data == {"rails": {"input": {"flows": ["regex check input"]}}}


@pytest.mark.parametrize("constructor", list(CONSTRUCTORS))
@pytest.mark.parametrize(
    ("bad", "type_name"), [(42, "int"), (b"config.yml", "bytes"), (["rails"], "list")]
)
def test_any_other_form_is_a_type_error_naming_the_accepted_forms(
    constructor: str, bad: Any, type_name: str
) -> None:
    with pytest.raises(TypeError) as caught:
        CONSTRUCTORS[constructor](bad)
    assert str(caught.value) == ACCEPTED + type_name


def test_guardrails_without_a_config_names_the_accepted_forms() -> None:
    with pytest.raises(TypeError) as caught:
        Guardrails(llm=_model())
    assert str(caught.value) == ACCEPTED + "NoneType"


@pytest.mark.parametrize("constructor", list(CONSTRUCTORS))
def test_a_bad_mapping_is_a_config_error_naming_the_key(constructor: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CONSTRUCTORS[constructor]({"rails": {"inptu": {"flows": []}}})
    assert str(caught.value).startswith("<config dict>:")
    assert "rails.inptu: unknown key 'inptu'" in str(caught.value)


@pytest.mark.parametrize("constructor", list(CONSTRUCTORS))
def test_a_missing_path_is_a_config_error(constructor: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as caught:
        CONSTRUCTORS[constructor](missing)
    assert str(caught.value) == f"{missing}: no such file or folder"
