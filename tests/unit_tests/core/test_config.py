"""RailsConfig loading and its errors (each names the file, the line and the key)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from langchain_guardrails import ConfigError, RailsConfig
from langchain_guardrails.colang.parser import DIALOG

FOLDER_CONFIG = """\
models:
  - type: main
    engine: scripted
    parameters: {default_reply: "hi"}
streaming: True
instructions:
  - type: general
    content: Be nice.
rails:
  input:
    flows: [regex check input]
  output:
    flows:
      - regex check output
      - {flow: no secrets, on_error: allow, timeout: 2, refusal: "No secrets here."}
    streaming:
      enabled: True
      chunk_size: 10
      context_size: 3
      stream_first: False
  config:
    regex_detection:
      input: {patterns: ["jailbreak"]}
      output: {patterns: ["forbidden"]}
"""

PROMPTS = """\
prompts:
  - task: self_check_input
    content: "Is this ok? {{ user_input }} Answer Yes or No."
"""

ACTIONS = """\
from langchain_guardrails.config.actions import action

@action(name="no secrets")
def no_secrets(text: str) -> bool:
    return "SECRET" not in text
"""


def make_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "config.yml").write_text(FOLDER_CONFIG)
    (folder / "prompts.yml").write_text(PROMPTS)
    (folder / "actions.py").write_text(ACTIONS)
    return folder


def test_from_path_loads_config_prompts_and_actions(tmp_path: Path) -> None:
    config = RailsConfig.from_path(make_folder(tmp_path))
    assert config.streaming is True
    assert config.main_model is not None and config.main_model.engine == "scripted"
    assert config.rails.output.streaming.chunk_size == 10
    assert config.rails.output.streaming.context_size == 3
    assert config.rails.output.streaming.stream_first is False
    assert config.prompt_for("self_check_input") is not None
    assert config.prompt_for("self_check_input").content == (  # type: ignore[union-attr]
        "Is this ok? {{ user_input }} Answer Yes or No."
    )
    assert [fn.__name__ for fn in config.actions] == ["no_secrets"]
    spec = config.rails.output.flows[1]
    assert not isinstance(spec, str)
    assert (spec.flow, spec.on_error, spec.timeout, spec.refusal) == (
        "no secrets",
        "allow",
        2,
        "No secrets here.",
    )
    assert config.config_path == str(tmp_path / "cfg")


def test_from_path_single_yaml_file(tmp_path: Path) -> None:
    file = tmp_path / "rails.yaml"
    file.write_text("rails:\n  input:\n    flows: [regex check input]\n")
    assert RailsConfig.from_path(file).rails.input.flows == ["regex check input"]


def test_config_yaml_name_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("streaming: true\n")
    assert RailsConfig.from_path(tmp_path).streaming is True


def test_from_content_merges_dict_over_yaml() -> None:
    config = RailsConfig.from_content(
        yaml_content="rails:\n  input:\n    flows: [regex check input]\n",
        config={"rails": {"output": {"flows": ["regex check output"]}}, "streaming": True},
    )
    assert config.rails.input.flows == ["regex check input"]
    assert config.rails.output.flows == ["regex check output"]
    assert config.streaming is True


def test_defaults() -> None:
    config = RailsConfig.from_content()
    streaming = config.rails.output.streaming
    assert (streaming.enabled, streaming.chunk_size, streaming.context_size) == (False, 200, 50)
    assert streaming.stream_first is True
    assert streaming.audit_unreleased_text is False
    assert config.rails.refusal.message == "I'm sorry, I can't respond to that."
    assert config.rails.timeout == 30
    assert config.enable_rails_exceptions is False


def error_of(yaml_content: str) -> str:
    with pytest.raises(ConfigError) as info:
        RailsConfig.from_content(yaml_content=yaml_content)
    return str(info.value)


def test_malformed_yaml_names_line() -> None:
    message = error_of("rails:\n  input:\n    flows: [a, b\n  output: {}\n")
    assert message.startswith("<yaml_content>:4: malformed YAML")


def test_unknown_key_names_file_line_key_and_known_keys() -> None:
    message = error_of(
        "rails:\n  output:\n    streaming:\n      enabled: true\n      chunk_szie: 10\n"
    )
    assert message == (
        "<yaml_content>:5: rails.output.streaming.chunk_szie: unknown key 'chunk_szie' "
        "(known keys: enabled, chunk_size, context_size, first_chunk_size, stream_first, "
        "audit_unreleased_text)"
    )


def test_unknown_top_level_key() -> None:
    message = error_of("streaming: true\nrailz: {}\n")
    assert message.startswith("<yaml_content>:2: railz: unknown key 'railz' (known keys: models,")


def test_wrong_type_names_key() -> None:
    message = error_of("rails:\n  output:\n    streaming:\n      chunk_size: lots\n")
    assert message.startswith("<yaml_content>:4: rails.output.streaming.chunk_size: ")
    assert "integer" in message and "'lots'" in message


@pytest.mark.parametrize(
    ("streaming", "line", "expected"),
    [
        ("chunk_size: 0", 4, "rails.output.streaming.chunk_size: chunk_size must be >= 1 (got 0)"),
        (
            "context_size: -1",
            4,
            "rails.output.streaming.context_size: context_size must be >= 0 (got -1)",
        ),
    ],
)
def test_bad_sizes(streaming: str, line: int, expected: str) -> None:
    message = error_of(f"rails:\n  output:\n    streaming:\n      {streaming}\n")
    assert message == f"<yaml_content>:{line}: {expected}"


def test_context_not_smaller_than_chunk() -> None:
    message = error_of(
        "rails:\n  output:\n    streaming:\n      chunk_size: 5\n      context_size: 5\n"
    )
    assert message.startswith(
        "<yaml_content>:3: rails.output.streaming: context_size (5) must be smaller than "
        "chunk_size (5): a window needs at least one new unit"
    )


def test_errors_name_the_real_file(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("rails:\n  output:\n    streaming:\n      chunk_size: 0\n")
    with pytest.raises(ConfigError) as info:
        RailsConfig.from_path(tmp_path)
    assert str(info.value).startswith(
        f"{tmp_path / 'config.yml'}:4: rails.output.streaming.chunk_size"
    )


def test_error_in_second_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("streaming: true\n")
    (tmp_path / "prompts.yml").write_text("prompts:\n  - task: x\n    contnt: y\n")
    with pytest.raises(ConfigError) as info:
        RailsConfig.from_path(tmp_path)
    assert str(info.value).startswith(
        f"{tmp_path / 'prompts.yml'}:3: prompts.0.contnt: unknown key"
    )


def test_a_colang_dialog_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("streaming: true\n")
    (tmp_path / "rails").mkdir()
    (tmp_path / "rails" / "flows.co").write_text("define user ask\n")
    with pytest.raises(ConfigError) as info:
        RailsConfig.from_path(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'rails' / 'flows.co'}:1: 'define user ask': user intents (define user) "
        f"are dialog rails; {DIALOG}"
    )


def test_colang_content_with_a_dialog_flow_is_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        RailsConfig.from_content(colang_content="define flow x\n  user ask\n")
    assert str(info.value) == (
        f"<colang_content>:2: 'user': a flow with 'user' lines is a dialog flow; {DIALOG}"
    )


def test_dialog_rails_are_rejected() -> None:
    message = error_of("rails:\n  dialog:\n    single_call: {enabled: true}\n")
    assert message.startswith(
        "<yaml_content>:2: rails.dialog: dialog and retrieval rails are not supported"
    )


def test_missing_folder_and_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        RailsConfig.from_path(tmp_path / "nope")
    with pytest.raises(ConfigError, match=re.escape("no config.yml or config.yaml in this folder")):
        RailsConfig.from_path(tmp_path)


def test_bad_regex_pattern() -> None:
    message = error_of(
        "rails:\n  config:\n    regex_detection:\n      output:\n        patterns: ['a(']\n"
    )
    assert message.startswith(
        "<yaml_content>:5: rails.config.regex_detection.output.patterns: invalid regular "
        "expression 'a('"
    )


def test_duplicate_key() -> None:
    assert (
        error_of("streaming: true\nstreaming: false\n")
        == "<yaml_content>:2: duplicate key 'streaming'"
    )


def test_conflicting_scalar_across_files(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("streaming: true\n")
    (tmp_path / "other.yml").write_text("streaming: false\n")
    with pytest.raises(
        ConfigError,
        match=r"other\.yml:1: streaming: conflicts with the value set at .*config\.yml:1",
    ):
        RailsConfig.from_path(tmp_path)


def test_top_level_must_be_mapping() -> None:
    assert error_of("- a\n- b\n") == "<yaml_content>:1: the top level must be a mapping"


def test_broken_actions_file(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("streaming: true\n")
    (tmp_path / "actions.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(
        ConfigError, match=r"actions\.py: importing it failed: RuntimeError\('boom'\)"
    ):
        RailsConfig.from_path(tmp_path)


def test_prompt_needs_content_or_messages() -> None:
    message = error_of("prompts:\n  - task: self_check_input\n")
    assert "prompt for task 'self_check_input' needs exactly one of content/messages" in message


def test_config_is_immutable() -> None:
    config = RailsConfig.from_content()
    with pytest.raises(Exception, match="frozen"):
        config.streaming = True  # type: ignore[misc]
