"""`langchain-guardrails check --nemo`: Colang rail flows are reported as running, and a NeMo
action used directly as a flow name says how its result is read, with a warning when its name
suggests the opposite (the issue's silent inversion). The folder is NeMo's getting-started
blocked-terms rail, read from NeMo's 0.17.0 sdist (`make nemo-packages`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from langchain_guardrails.nemo.check import check_folder, suggests_blocking

from .nemo_packages import BLOCKED_TERMS, SDIST_0_17, blocked_terms_folder, nemo_folder

# NeMo's folder names a completions-only model: check --nemo says so, rightly, for every run.
COMPLETIONS_ONLY = (
    "models[type=main]: 'gpt-3.5-turbo-instruct' is a completions-only model; it is called here "
    "through the chat endpoint, which refuses it: every call will fail closed (use a chat "
    "model, e.g. gpt-4o-mini)"
)


@pytest.fixture(autouse=True)
def openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # The folder's openai model is built by the check: a key, never used (nothing is called).
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def test_the_colang_folder_reports_its_flows(tmp_path: Path) -> None:
    folder = blocked_terms_folder(tmp_path / "blocked")
    report = check_folder(folder)
    assert (report.will_run, report.warnings) == (True, [COMPLETIONS_ONLY])
    assert report.runs == [
        "input rail 'self check input'",
        "output rail 'self check output'",
        "output rail 'check blocked terms' (Colang flow)",
        "Colang 1.0 rail flows (rails/blocked_terms.co): check blocked terms",
        "task prompts (2), rendered by sandboxed Jinja2",
    ]


def test_the_folder_as_published_names_its_missing_action(tmp_path: Path) -> None:
    # The sdist leaves out the folder's actions.py: the check says which action is missing.
    folder = nemo_folder(SDIST_0_17, BLOCKED_TERMS, tmp_path / "blocked")
    report = check_folder(folder)
    assert report.will_run is False
    assert report.errors == [
        f"{folder / 'rails' / 'blocked_terms.co'}:5: execute check_blocked_terms: unknown "
        "action; known actions: self_check_facts, self_check_hallucination, self_check_input, "
        "self_check_output"
    ]


def test_a_nemo_action_used_as_a_flow_name_says_how_it_is_read_and_warns(tmp_path: Path) -> None:
    # What a user does after the .co refusal of old: delete it, name the action as the flow.
    folder = blocked_terms_folder(tmp_path / "blocked")
    shutil.rmtree(folder / "rails")
    config = (folder / "config.yml").read_text()
    (folder / "config.yml").write_text(
        config.replace("- check blocked terms", "- check_blocked_terms")
    )
    report = check_folder(folder)
    assert report.will_run is True
    assert (
        "output rail 'check_blocked_terms': NeMo action from actions.py used as a flow; its "
        "result is read as True = allowed, False = blocked"
    ) in report.runs
    assert report.warnings == [
        COMPLETIONS_ONLY,
        "output rail 'check_blocked_terms': its name suggests True means blocked (NeMo flows "
        "test `if $is_blocked`), but as a flow name here True allows: call it from a Colang "
        "flow (`$blocked = execute check_blocked_terms` / `if $blocked` / `bot ...` / `stop`), "
        "or give it output_mapping, or return True for allowed",
    ]
    assert report.text().endswith("\n  warning: " + report.warnings[1])


def test_an_output_mapping_is_reported_and_not_warned(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("rails: {input: {flows: [is_blocked]}}\n")
    (tmp_path / "actions.py").write_text(
        "from nemoguardrails.actions import action\n\n"
        "@action(output_mapping=lambda value: value)\n"
        "def is_blocked(text=None):\n    return 'x' in (text or '')\n"
    )
    report = check_folder(tmp_path)
    assert report.warnings == []
    assert (
        "input rail 'is_blocked': NeMo action from actions.py, read through its output_mapping "
        "(mapping True = blocked)"
    ) in report.runs


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("check_blocked_terms", True),
        ("is_blocked", True),
        ("contains_pii", True),
        ("detect_jailbreak", True),
        ("check_facts", True),
        ("is_unsafe", True),
        ("check_allowed", False),
        ("is_safe", False),
        ("output has no secret", False),
        ("no secrets", False),
    ],
)
def test_names_that_suggest_blocking(name: str, expected: bool) -> None:
    assert suggests_blocking(name) is expected
