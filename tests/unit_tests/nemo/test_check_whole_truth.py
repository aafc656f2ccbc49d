"""``check --nemo`` tells the whole truth in one run: every problem of a folder at once, a
verdict that never contradicts its errors, and a warning for each model that will fail closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langchain_guardrails.cli.main import main

pytestmark = pytest.mark.requires("langchain_openai")

MESSY = """\
models:
  - type: main
    engine: nim
    model: meta/llama-3.1-8b-instruct
  - type: content_safety
    engine: cohere
    model: command-r
  - type: hf
    engine: huggingface_hub
    model: gpt2
  - type: old
    engine: openai
    model: gpt-3.5-turbo-instruct
    parameters: {api_key: sk-test}
rails:
  input:
    foo: 1
    flows:
      - self check input
      - injection detection
      - my unknown flow
  output:
    flows:
      - content safety check output $model=content_safety
    streaming:
      chunk_size: 0
"""


def report(folder: Path, capsys: Any, *extra: str) -> tuple[int, str]:
    code = main(["check", "--nemo", str(folder), *extra])
    return code, capsys.readouterr().out.rstrip("\n")


def test_every_problem_of_a_folder_in_one_run(tmp_path: Path, capsys: Any) -> None:
    # Before: one error a run (the YAML errors, then the prompt, then the package, ...), and
    # "runs: input rail 'self check input'" beside the error saying it cannot run.
    (tmp_path / "config.yml").write_text(MESSY, encoding="utf-8")
    code, out = report(tmp_path, capsys)
    config = tmp_path / "config.yml"
    assert code == 2
    assert out.split("\n") == [
        f"{tmp_path}: will not run (2 warnings)",
        "  runs: output rail 'content safety check output'",
        "  maps: model main: engine nim -> ChatOpenAI against the NIM's OpenAI-compatible API "
        "(parameters.base_url)",
        "  maps: model content_safety: engine cohere -> init_chat_model provider "
        "(langchain-cohere)",
        "  unsupported: model hf: engine huggingface_hub: unknown engine",
        "  unsupported: 'injection detection' is NeMo Guardrails' injection_detection rail, "
        "not supported here: needs YARA rules and the yara-python engine; use `regex check "
        "input|output` patterns",
        "  unsupported: input rail 'my unknown flow': unknown flow",
        f"  error: {config}:17: rails.input.foo: unknown key 'foo' (known keys: flows, "
        "parallel, speculative_generation)",
        f"  error: {config}:26: rails.output.streaming.chunk_size: chunk_size must be >= 1 (got 0)",
        "  error: models[type=content_safety]: engine 'cohere' needs the package "
        "langchain-cohere; install it with `pip install langchain-cohere`",
        "  error: 'self check input' needs a prompt for task 'self_check_input': add `- task: "
        "self_check_input` with a `content` using {{ user_input }} to `prompts`",
        "  warning: models[type=main]: engine 'nim' at https://integrate.api.nvidia.com/v1 "
        "needs an API key: set NVIDIA_API_KEY (or name another variable with api_key_env_var) "
        "(every call to it will fail closed)",
        "  warning: models[type=old]: 'gpt-3.5-turbo-instruct' is a completions-only model; "
        "it is called here through the chat endpoint, which refuses it: every call will fail "
        "closed (use a chat model, e.g. gpt-4o-mini)",
    ]


def test_keys_taken_out_to_go_on_never_invent_errors(tmp_path: Path, capsys: Any) -> None:
    # The bad context_size is dropped to build the rest; its default (50) against the
    # folder's chunk_size (20) is not the folder's error and is not reported.
    (tmp_path / "config.yml").write_text(
        "rails:\n"
        "  output:\n"
        "    parallel: sometimes\n"
        "    flows: [regex check output, self check output]\n"
        "    streaming: {enabled: true, chunk_size: 20, context_size: -1}\n"
        "  config:\n"
        "    regex_detection: {output: {patterns: ['secret']}}\n",
        encoding="utf-8",
    )
    code, out = report(tmp_path, capsys, "--json")
    config = tmp_path / "config.yml"
    (found,) = json.loads(out)
    assert code == 2
    assert found["will_run"] is False
    assert found["errors"] == [
        f"{config}:5: rails.output.streaming.context_size: context_size must be >= 0 (got -1)",
        f"{config}:3: rails.output.parallel: Input should be a valid boolean, unable to "
        "interpret input (got 'sometimes')",
        "'self check output' needs a prompt for task 'self_check_output': add `- task: "
        "self_check_output` with a `content` using {{ bot_response }}, {{ user_input }} to "
        "`prompts`",
    ]
    assert found["error"] == "\n".join(found["errors"])
    assert found["runs"] == ["output rail 'regex check output'"]
    assert found["warnings"] == []


def test_a_rail_that_does_not_build_is_not_listed_as_running(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "config.yml").write_text(
        "rails:\n"
        "  input:\n"
        "    flows: [self check input, regex check input]\n"
        "  output:\n"
        "    flows: [mask sensitive data on output]\n"
        "    streaming: {enabled: true, stream_first: true}\n"
        "  config:\n"
        "    regex_detection: {input: {patterns: ['secret']}}\n"
        "    sensitive_data_detection: {output: {entities: [EMAIL_ADDRESS]}}\n",
        encoding="utf-8",
    )
    code, out = report(tmp_path, capsys)
    assert code == 2
    assert out.split("\n") == [
        f"{tmp_path}: will not run",
        "  runs: input rail 'regex check input'",
        "  error: 'self check input' needs a prompt for task 'self_check_input': add `- task: "
        "self_check_input` with a `content` using {{ user_input }} to `prompts`",
        "  error: output rail 'mask sensitive data on output' rewrites text, which needs "
        "hold-back mode: set rails.output.streaming.stream_first: false (text already "
        "released cannot be rewritten)",
    ]


def test_a_folder_without_problems_runs_with_no_warning(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "config.yml").write_text(
        "models:\n"
        "  - type: main\n"
        "    engine: nim\n"
        "    model: meta/llama-3.1-8b-instruct\n"
        "    parameters: {base_url: 'http://127.0.0.1:9/v1'}\n"
        "rails:\n"
        "  input: {flows: [regex check input]}\n"
        "  config:\n"
        "    regex_detection: {input: {patterns: ['secret']}}\n",
        encoding="utf-8",
    )
    code, out = report(tmp_path, capsys)
    assert (code, out.split("\n")) == (
        0,
        [
            f"{tmp_path}: will run",
            "  runs: input rail 'regex check input'",
            "  maps: model main: engine nim -> ChatOpenAI against the NIM's OpenAI-compatible "
            "API (parameters.base_url)",
        ],
    )


def test_a_missing_key_is_a_warning_not_an_error(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.yml").write_text(
        "models:\n"
        "  - type: main\n"
        "    engine: openai\n"
        "    model: gpt-4o-mini\n"
        "    api_key_env_var: MY_MISSING_KEY\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("MY_MISSING_KEY", raising=False)
    code, out = report(tmp_path, capsys)
    assert (code, out.split("\n")) == (
        0,
        [
            f"{tmp_path}: will run (1 warning)",
            "  warning: models[type=main]: environment variable MY_MISSING_KEY is not set "
            "(every call to it will fail closed)",
        ],
    )


def test_a_failing_actions_file_is_run_once_and_the_rest_still_checked(
    tmp_path: Path, capsys: Any
) -> None:
    runs = tmp_path / "runs.txt"
    (tmp_path / "actions.py").write_text(
        f"open({str(runs)!r}, 'a').write('ran\\n')\nraise RuntimeError('boom')\n",
        encoding="utf-8",
    )
    (tmp_path / "config.yml").write_text(
        "rails:\n  input:\n    flows: [self check input]\n", encoding="utf-8"
    )
    code, out = report(tmp_path, capsys)
    assert (code, out.split("\n")) == (
        2,
        [
            f"{tmp_path}: will not run",
            f"  error: {tmp_path / 'actions.py'}: importing it failed: RuntimeError('boom')",
            "  error: 'self check input' needs a prompt for task 'self_check_input': add `- "
            "task: self_check_input` with a `content` using {{ user_input }} to `prompts`",
        ],
    )
    assert runs.read_text(encoding="utf-8") == "ran\n"
