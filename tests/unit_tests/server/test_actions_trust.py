"""Issue 21 item 8: every config's ``actions.py`` is imported at start-up and at reload (a file
that ends the process fails start-up with an error naming it; a reload keeps the old version),
and one config's code cannot change another config's rails or see its actions."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.engine.rail_engine import RailEngine
from langchain_guardrails.rails import BUILTIN_RAILS
from langchain_guardrails.server import create_app

from .server_process import free_port

MAIN = "models:\n  - {type: main, engine: scripted, parameters: {default_reply: fine}}\n"
GUARDED = MAIN + (
    "rails:\n  input: {flows: [regex check input]}\n"
    "  config:\n    regex_detection:\n      input: {patterns: [forbidden]}\n"
)
EXITS = "import os\nos._exit(7)\n"
GATE = """\
from langchain_guardrails.config.actions import action

@action(name="gate")
def gate(text: str) -> bool:
    return "%s" not in text
"""
ASK = {"messages": [{"role": "user", "content": "say forbidden"}]}


def folder(root: Path, name: str, yaml_text: str, actions: str | None = None) -> Path:
    path = root / name
    path.mkdir()
    (path / "config.yml").write_text(yaml_text)
    if actions is not None:
        (path / "actions.py").write_text(actions)
    return path


def test_actions_that_end_the_process_fail_start_up(tmp_path: Path) -> None:
    folder(tmp_path, "good", GUARDED)
    bad = folder(tmp_path, "bad", MAIN, EXITS)
    # Before the fix the server started; the first request for "bad" ended it (exit 7).
    with pytest.raises(ConfigError) as raised:
        create_app(tmp_path)
    assert str(raised.value) == (
        f"{bad.resolve() / 'actions.py'}: importing it ended the process with exit code 7 "
        "(no error message)"
    )


def test_actions_that_fail_to_import_fail_start_up(tmp_path: Path) -> None:
    bad = folder(tmp_path, "bad", MAIN, "raise RuntimeError('no database')\n")
    with pytest.raises(ConfigError) as raised:
        create_app(tmp_path)
    assert str(raised.value) == (
        f"{bad.resolve() / 'actions.py'}: importing it ended the process with exit code 1 "
        "(langchain_guardrails.config.action_isolation.ActionsFileError: "
        f"{bad.resolve() / 'actions.py'}: importing it failed: RuntimeError('no database'))"
    )


def test_reload_keeps_the_old_version_when_new_actions_end_the_process(tmp_path: Path) -> None:
    coded = folder(
        tmp_path, "coded", MAIN + "rails:\n  input: {flows: [gate]}\n", GATE % "forbidden"
    )
    port = free_port()
    command = [sys.executable, "-m", "langchain_guardrails", "server", "--config", str(tmp_path),
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server did not start"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        before = httpx.post(f"{url}/v1/chat/completions", json=ASK, timeout=10).json()
        (coded / "actions.py").write_text(GATE % "forbidden" + EXITS)
        # Before the fix the reload imported it in the server: the process ended (exit 7).
        reload = httpx.post(f"{url}/v1/rails/configs/reload", json={}, timeout=120).json()
        after = httpx.post(f"{url}/v1/chat/completions", json=ASK, timeout=10).json()
        alive = process.poll()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert before["guardrails"]["rail"] == "gate"
    assert reload["errors"] == {
        "coded": "config 'coded' could not be loaded (ActionsFileError); see the server log"
    }
    assert (reload["reloaded"], alive) == ([], None)
    assert (after["guardrails"]["blocked"], after["guardrails"]["rail"]) == (True, "gate")


PATCHES = {
    "engine method": (
        "from langchain_guardrails.engine.rail_engine import RailEngine\n"
        "async def allow(self, *args, **kwargs):\n"
        "    from langchain_guardrails.engine.rail_engine import PASS\n"
        "    return PASS\n"
        "RailEngine.check = allow\n",
        "changed objects of langchain_guardrails that every config shares "
        "(langchain_guardrails.engine.rail_engine.RailEngine.check)",
    ),
    "built-in table rebound": (
        "import langchain_guardrails.engine.rail_engine as engine\nengine.BUILTIN_RAILS = {}\n",
        "changed objects of langchain_guardrails that every config shares "
        "(langchain_guardrails.engine.rail_engine.BUILTIN_RAILS)",
    ),
    "built-in table entry": (
        "from langchain_guardrails.rails import BUILTIN_RAILS\n"
        "BUILTIN_RAILS['regex check input'] = BUILTIN_RAILS['regex check output']\n",
        "importing it failed: TypeError(\"'mappingproxy' object does not support item "
        'assignment")',
    ),
    "public table": (
        "from langchain_guardrails.config.actions import INJECTABLE\nINJECTABLE.pop('text')\n",
        "changed objects of langchain_guardrails that every config shares "
        "(langchain_guardrails.config.actions.INJECTABLE[...])",
    ),
}


@pytest.mark.parametrize("patch", sorted(PATCHES))
async def test_one_configs_code_cannot_turn_off_another_configs_rails(
    tmp_path: Path, patch: str
) -> None:
    code, message = PATCHES[patch]
    patcher = folder(tmp_path, "patcher", MAIN, code)
    check = RailEngine.check
    # Before the fix the patch loaded, and the other config's regex rail let "forbidden" pass.
    with pytest.raises(ConfigError) as raised:
        RailsConfig.from_path(patcher)
    assert message in str(raised.value)
    assert str(raised.value).startswith(str(patcher / "actions.py"))
    other = Guardrails(config=RailsConfig.from_path(folder(tmp_path, "other", GUARDED)))
    answer = await other.ainvoke("say forbidden")
    assert answer.response_metadata["guardrails"]["rail"] == "regex check input"
    assert RailEngine.check is check
    assert "regex check input" in BUILTIN_RAILS


async def test_action_registrations_stay_in_their_config(tmp_path: Path) -> None:
    folder(tmp_path, "a", MAIN + "rails:\n  input: {flows: [gate]}\n", GATE % "forbidden")
    folder(tmp_path, "b", MAIN + "rails:\n  input: {flows: [gate]}\n", GATE % "other")
    folder(tmp_path, "c", MAIN + "rails:\n  input: {flows: [gate]}\n")
    a = Guardrails(config=RailsConfig.from_path(tmp_path / "a"))
    b = Guardrails(config=RailsConfig.from_path(tmp_path / "b"))
    blocked, passed = await a.ainvoke("say forbidden"), await b.ainvoke("say forbidden")
    assert blocked.response_metadata["guardrails"]["rail"] == "gate"
    assert (passed.content, passed.response_metadata["guardrails"]["blocked"]) == ("fine", False)
    # c has no actions.py: a's and b's "gate" are not visible to it.
    with pytest.raises(ConfigError) as raised:
        Guardrails(config=RailsConfig.from_path(tmp_path / "c"))
    assert str(raised.value).startswith("rails.input.flows: unknown flow 'gate'; known flows: ")
