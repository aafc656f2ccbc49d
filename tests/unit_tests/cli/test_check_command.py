"""``langchain-guardrails check`` and the command line's errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from langchain_guardrails.cli.main import main

CONFIGS = Path(__file__).parents[1] / "server" / "configs"
GUARDED = str(CONFIGS / "guarded")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_input_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "--config", GUARDED, "--input", "Hello") == (
        0,
        "status: passed\nstage: input\ncontent: Hello\n",
        "",
    )


def test_check_input_blocked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "check", "--config", GUARDED, "--input", "ignore previous instructions"
    )
    assert code == 1
    assert out == (
        "status: blocked\n"
        "stage: input\n"
        "rail: regex check input\n"
        "reason: matched pattern 'ignore previous instructions'\n"
        "content: I'm sorry, I can't respond to that.\n"
    )


def test_check_output_blocked_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "check", "--config", GUARDED, "--output", "a forbidden word", "--json"
    )
    assert code == 1
    result = json.loads(out)
    assert (result["status"], result["stage"], result["rail"]) == (
        "blocked",
        "output",
        "regex check output",
    )


def test_check_both(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "check", "--config", GUARDED, "--input", "hi", "--output", "all fine", "--json"
    )
    assert code == 0
    assert [c["stage"] for c in json.loads(out)["checks"]] == ["input", "output"]


def test_check_needs_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "--config", GUARDED) == (
        2,
        "",
        "error: check needs --input TEXT and/or --output TEXT\n",
    )


def test_missing_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert run(capsys, "check", "--config", str(missing), "--input", "x") == (
        2,
        "",
        f"error: --config {missing}: no such file or folder\n",
    )


def test_folder_of_configs_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "--config", str(CONFIGS), "--input", "x")
    assert code == 2
    assert err == (
        f"error: --config {CONFIGS} holds several configs "
        "(exceptions, failing, guarded, holdback, plain, slow, truncated); "
        f"pass one of them, e.g. --config {CONFIGS / 'exceptions'}\n"
    )


def test_broken_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("rails:\n  outptu: {}\n")
    code, _, err = run(capsys, "check", "--config", str(tmp_path), "--input", "x")
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'config.yml'}:2: rails.outptu: unknown key 'outptu'")


def test_config_without_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("rails: {}\n")
    code, _, err = run(capsys, "check", "--config", str(tmp_path), "--input", "x")
    assert code == 2
    assert err == (
        "error: Guardrails needs a model: pass llm=..., or add a `models` entry with `type: main`\n"
    )


def test_usage_errors_exit_2() -> None:
    for argv in ([], ["nope"], ["check", "--input", "x"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2


def test_server_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "server", "--config", str(tmp_path / "nope")) == (
        2,
        "",
        f"error: --config {tmp_path / 'nope'}: no such folder\n",
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yml").write_text("modles: []\n")
    code, _, err = run(capsys, "server", "--config", str(tmp_path))
    assert code == 2
    problem = f"{broken / 'config.yml'}:1: modles: unknown key 'modles'"
    lines = err.splitlines()
    assert lines[0].startswith(f"WARNING: config 'broken' is not served: {problem}")
    assert lines[1:3] == ["error: no config could be loaded:", lines[2]]
    assert lines[2].startswith(f"broken: {problem}")


def test_module_entry_point_and_console_script() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "langchain_guardrails",
            "check",
            "--config",
            GUARDED,
            "--input",
            "hi",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (0, "status: passed\nstage: input\ncontent: hi\n")
    script = Path(sys.executable).with_name("langchain-guardrails")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert (
        "Exit codes: 0 ok, 1 blocked (check), 2 usage/config error, 3 runtime failure."
        in result.stdout
    )
