"""The notebooks run offline, top to bottom, in the project's own Python, and what is committed
is what ``notebooks/build_notebooks.py`` builds, with the outputs of a real run."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[3]
NOTEBOOKS = REPO / "notebooks"
NAMES = [
    "01_streaming_quickstart",
    "02_lcel_and_langserve",
    "03_usage_and_explain",
    "04_huggingface_pipeline",
    "05_agents",
]
NOTEBOOK_TIMEOUT = 240.0
"""Seconds a whole notebook may take (each runs in a few seconds; this catches hangs)."""
CELL_TIMEOUT = 120
NEEDS = {
    "02_lcel_and_langserve": ("langserve", "uvicorn"),
    "04_huggingface_pipeline": ("torch",),
    "05_agents": ("langchain.agents",),
}
"""Optional extras a notebook needs besides the test extra (``make test`` installs them all)."""

OFFLINE = "Offline run: set GUARDRAILS_NOTEBOOK_MODEL=openai or =local to try a real model."
EXPECTED: dict[str, list[str]] = {
    "01_streaming_quickstart": [
        "guardrails: {'blocked': False, 'windows': 4}",
        "user saw: 'Sure! ' | 'The ' | 'admin ' | '\\n\\n' | "
        "\"I'm sorry, I can't respond to that.\"",
        "of its 14 units",
        "'rail': 'regex check output', 'reason': \"matched pattern 'password is [^ ]+'\"",
        "raised: GuardrailsViolation | output regex check output",
        'custom refusal: "Let\'s keep credentials out of chat."',
        "stream_first=False: the user saw "
        "\"Sure! The admin \\n\\nI'm sorry, I can't respond to that.\"",
        "sequential, equal windows: 2 output windows",
        "speculative + first_chunk_size=8: 4 output windows",
        OFFLINE,
    ],
    "02_lcel_and_langserve": [
        "'Sure! ' 'The ' 'admin ' '\\n\\n' \"I'm sorry, I can't share that.\"",
        "  -> I can't help with attempts to override my instructions.",
        "{'blocked': True, 'stage': 'input', 'rail': 'regex check input'",
        "guardrails.rail.blocked      {'rail': 'regex check output', 'stage': 'output', "
        "'window': 1, 'decision': 'blocked'}",
        "on_chain_stream              \"I'm sorry, I can't share that.\"",
        "on_chat_model_stream         Guardrails: 'Sure! '",
        '["I can\'t help with attempts to override my instructions.", '
        "\"I'm sorry, I can't share that.\"]",
        "guardrails.rail.blocked    regex check output   output  window=1",
        "server stopped: True",
        OFFLINE,
    ],
    "03_usage_and_explain": [
        "  demo-guard:  132 in +  4 out\n  demo-main:     6 in + 15 out",
        "  last chunk:  None\n  demo-guard:   35 in +  1 out",
        "stopped=True",
        "self_check_output  prompt='Human: [redacted: unreleased text]'",
        "- 5 LLM calls, ",
        "[('self check input $model=guard', None, 'passed'), "
        "('self check output $model=guard', 0, 'blocked')]",
        "  generator yielded 14 of 14 tokens, then <closed>",
        '{"error": {"message": "Blocked by self check output $model=guard rails.", '
        '"type": "guardrails_violation", "param": "self check output $model=guard", '
        '"code": "content_blocked"}}',
        "of 17 tokens, then <closed>",
        OFFLINE,
    ],
    "04_huggingface_pipeline": [
        "T|h|e| |c|a|p|i|t|a|l| |o|f| |F|r|a|n|c|e| |i|s| |P|a|r|i|s|.|",
        "generated: {'input_tokens': 0, 'output_tokens': 32, 'total_tokens': 32}",
        "  user saw:  'The capital of France is Paris.'",
        "  user saw:  \"I'm sorry, I can't respond to that.\"\n"
        "  verdict:   {'blocked': True, 'rail': 'regex check output', 'window': 0}",
        "for a reply of 75 tokens",
        "generation threads left: []",
        "{'blocked': False, 'windows': ",
        "Offline run: set GUARDRAILS_NOTEBOOK_MODEL to a model folder, =local or =openai.",
    ],
    "05_agents": [
        "[model] Let |me |list |the |files |first.|",
        "[tools] $ ls /srv: ok, owner is ops@example.com|",
        "[tools] $ ls /srv: ok, owner is <EMAIL_ADDRESS>|",
        "tools executed: ['ls /srv']",
        "{'blocked': True, 'stage': 'tool_output', 'rail': 'regex check output', "
        "'reason': \"matched pattern 'rm -rf'\", 'type': 'guardrails_violation'}",
        "tool   '$ ls /srv: ok, owner is <EMAIL_ADDRESS>'",
        "tool   '[blocked by guardrails]'",
        "model calls: 1",
        OFFLINE,
    ],
}
"""Text each notebook must print, in a fresh run and in the committed outputs (only what does
not depend on timing: e.g. how far a stream got before a block was seen is left out)."""
UNEXPECTED = {
    "02_lcel_and_langserve": [
        "ScriptedChatModel: ",
        "Guardrails: 'password ",
        "Guardrails: 'hunter2",
    ],
    "05_agents": ["'rm -rf /srv'", "sk-live1234"],
}
"""Text a notebook must not print (hold-back mode hides raw model tokens from events)."""
IMAGES = {"01_streaming_quickstart": 3}
"""Figures a notebook must show (the streaming timelines of notebook 01)."""

PROBE = "import sys\nprint(sys.executable)\nprint(sys.prefix)"


def _builder() -> Any:
    path = NOTEBOOKS / "build_notebooks.py"
    spec = importlib.util.spec_from_file_location("build_notebooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _text(nb: Any) -> str:
    """Every text a notebook's code cells printed (stdout and stderr) or displayed."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                parts.append(output["text"])  # one print may be split over several outputs
            elif "data" in output:
                parts.append(output["data"].get("text/plain", "") + "\n")
    return "".join(parts)


def _check_text(name: str, nb: Any) -> None:
    text = _text(nb)
    for line in EXPECTED[name]:
        assert line in text
    for line in UNEXPECTED.get(name, []):
        assert line not in text
    assert _images(nb) == IMAGES.get(name, 0)


def _images(nb: Any) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


def _errors(nb: Any) -> list[str]:
    return [
        f"{output['ename']}: {output['evalue']}"
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
    ]


def test_every_notebook_is_built_from_its_sources() -> None:
    built = _builder().sources()
    assert sorted(built) == NAMES
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        committed = [(cell.cell_type, cell.source) for cell in _read(name).cells]
        assert committed == built[name], f"{name}.ipynb is stale: run notebooks/build_notebooks.py"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_holds_the_outputs_of_one_real_run(name: str) -> None:
    nb = _read(name)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert _errors(nb) == []
    assert nb.metadata["kernelspec"]["name"] == "python3"
    _check_text(name, nb)


@pytest.mark.parametrize("name", NAMES)
async def test_notebook_runs_offline_in_the_project_python(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in NEEDS.get(name, ()):
        pytest.importorskip(module)
    # The kernel inherits this environment: never let a notebook reach a real model here.
    monkeypatch.delenv("GUARDRAILS_NOTEBOOK_MODEL", raising=False)
    # Kernel specs of this environment first, before any user-wide `python3` kernel; its
    # `python` command then runs as this very interpreter (checked by the probe cell).
    monkeypatch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    nb = copy.deepcopy(_read(name))
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    # A cell that raises fails here (CellExecutionError names the cell and the error).
    await asyncio.wait_for(client.async_execute(), NOTEBOOK_TIMEOUT)

    probe = nb.cells.pop(0)
    assert probe.outputs[0]["text"].split() == [sys.executable, sys.prefix]
    assert _errors(nb) == []
    _check_text(name, nb)
