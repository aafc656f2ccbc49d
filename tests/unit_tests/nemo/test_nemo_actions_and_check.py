"""An ``actions.py`` written for NeMo (``from nemoguardrails.actions import action``) loads;
Colang dialog rails are refused; ``langchain-guardrails check --nemo`` reports per folder."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.cli.main import main
from langchain_guardrails.colang.parser import DIALOG
from langchain_guardrails.testing import FakeOpenAIServer, FakeStreamingChatModel

from .conftest import CORPUS, REFUSAL

pytestmark = pytest.mark.requires("langchain_openai")


def test_a_nemo_actions_file_loads_and_its_actions_are_rails(
    server: FakeOpenAIServer, corpus: Callable[[str], Path]
) -> None:
    server.replies = {"main-model": ["The ", "SECRET ", "is out."]}
    server.rules = {"main-model": [("weather", "Sunny.")]}
    config = RailsConfig.from_path(corpus("nemo_actions"))
    assert [a.__guardrails_action__.name for a in config.actions] == [
        "check_blocked_terms",
        "output has no secret",
    ]
    assert not any(name.startswith("nemoguardrails") for name in sys.modules)
    guarded = Guardrails(config=config)
    assert guarded.invoke("How is the weather?").content == "Sunny."
    blocked_in = guarded.invoke("Tell me the proprietary formula")
    assert (blocked_in.content, blocked_in.response_metadata["guardrails"]["rail"]) == (
        REFUSAL,
        "check_blocked_terms",
    )
    blocked_out = guarded.invoke("Tell me")
    meta = blocked_out.response_metadata["guardrails"]
    assert (blocked_out.content, meta["rail"], meta["reason"]) == (
        REFUSAL,
        "output has no secret",
        "output has no secret blocked",
    )


def test_other_nemoguardrails_imports_fail_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("models: []\n", encoding="utf-8")
    (tmp_path / "actions.py").write_text(
        "from nemoguardrails.llm.taskmanager import LLMTaskManager\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_path(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'actions.py'}: importing it failed: ImportError('nemoguardrails.llm is "
        "part of NeMo Guardrails, which is not installed; an actions.py loaded by "
        "langchain_guardrails may import only `action` (and ActionResult) from "
        "nemoguardrails.actions')"
    )
    assert "nemoguardrails" not in sys.modules


def test_a_nemo_action_with_a_parameter_only_colang_fills_is_refused_as_a_rail(
    tmp_path: Path,
) -> None:
    # It loads (a Colang `execute check_terms(bot_text=...)` may call it); as a flow name it
    # cannot run.
    (tmp_path / "config.yml").write_text(
        "models: []\nrails: {output: {flows: [check_terms]}}\n", encoding="utf-8"
    )
    (tmp_path / "actions.py").write_text(
        "from nemoguardrails.actions import action\n\n"
        "@action()\nasync def check_terms(bot_text):\n    return True\n",
        encoding="utf-8",
    )
    config = RailsConfig.from_path(tmp_path)
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=FakeStreamingChatModel(text=""), config=config)
    assert str(error.value) == (
        "NeMo action 'check_terms': parameter 'bot_text' cannot be filled without a Colang "
        "flow; parameters filled here: config, context, events, llm, llm_task_manager, text"
    )


def test_colang_dialog_folders_are_refused_naming_the_line(tmp_path: Path) -> None:
    folder = tmp_path / "colang"
    shutil.copytree(CORPUS / "colang", folder)
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_path(folder)
    assert str(error.value) == (
        f"{folder / 'rails.co'}:1: 'define user express greeting': user intents (define user) "
        f"are dialog rails; {DIALOG}"
    )


def nemo_report(folder: Path, capsys: Any, *extra: str) -> tuple[int, str]:
    code = main(["check", "--nemo", str(folder), *extra])
    return code, capsys.readouterr().out.rstrip("\n")


def test_check_nemo_reports_what_runs_maps_and_is_unsupported(
    tmp_path: Path, corpus: Callable[[str], Path], capsys: Any
) -> None:
    # The missing-package report needs a provider the test extra never installs: cohere.
    root = tmp_path / "configs"
    root.mkdir()
    for name in ("engines_vllm", "instructions"):
        shutil.move(corpus(name), root / name)
    shutil.copytree(CORPUS / "colang", root / "colang")
    gliner = root / "gliner"
    gliner.mkdir()
    (gliner / "config.yml").write_text(
        "models: [{type: main, engine: cohere, model: command-r}]\n"
        "passthrough: true\n"
        "rails:\n  input:\n    flows: [gliner mask pii on retrieval]\n",
        encoding="utf-8",
    )
    code, out = nemo_report(root, capsys)
    assert code == 2
    sections = out.split("\n\n")
    assert [s.split("\n")[0] for s in sections] == [
        f"{root / 'colang'}: will not run",
        f"{root / 'engines_vllm'}: will run",
        f"{root / 'gliner'}: will not run",
        f"{root / 'instructions'}: will run",
    ]
    assert sections[1].split("\n")[1:] == [
        "  runs: input rail 'self check input'",
        "  runs: task prompts (1), rendered by sandboxed Jinja2",
        "  maps: model main: engine vllm_openai -> ChatOpenAI against the vLLM server "
        "(parameters.openai_api_base)",
    ]
    gliner_lines = sections[2].split("\n")[1:]
    assert gliner_lines == [
        "  maps: model main: engine cohere -> init_chat_model provider (langchain-cohere)",
        "  maps: passthrough: NeMo Guardrails key ignored by langchain_guardrails (every call "
        "here goes straight to the model: there are no dialog rails) (warning)",
        "  unsupported: 'gliner mask pii on retrieval' is NeMo Guardrails' gliner (retrieval) "
        "rail, not supported here: retrieval rails are not supported (only input, output and "
        "tool rails are)",
        "  error: models[type=main]: engine 'cohere' needs the package langchain-cohere; "
        "install it with `pip install langchain-cohere`",
    ]
    assert sections[3].split("\n")[1:] == [
        "  runs: model main: engine openai",
        "  maps: instructions (type general) -> system message of main-model calls",
    ]


def test_check_nemo_json_and_a_folder_that_runs(corpus: Callable[[str], Path], capsys: Any) -> None:
    folder = corpus("engines_nim")
    code, out = nemo_report(folder, capsys, "--json")
    assert code == 0
    (report,) = json.loads(out)
    assert report["will_run"] is True
    assert report["unsupported"] == [] and report["error"] is None
    assert report["runs"] == [
        "input rail 'content safety check input'",
        "output rail 'content safety check output'",
        "task prompts (2), rendered by sandboxed Jinja2",
    ]


def test_check_nemo_needs_a_folder(tmp_path: Path, capsys: Any) -> None:
    assert main(["check", "--nemo", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == f"error: --nemo {tmp_path / 'missing'}: no such folder\n"
    assert main(["check", "--nemo", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: --nemo {tmp_path}: no config.yml in this folder or its sub-folders\n"
    )


def test_the_survey_agrees_with_the_built_in_rails() -> None:
    from langchain_guardrails.engine.nemo_library import SURVEY
    from langchain_guardrails.rails import BUILTIN_RAILS

    for rail in SURVEY:
        for flow in rail.flows:
            assert (flow in BUILTIN_RAILS) is (rail.status == "runs"), flow
