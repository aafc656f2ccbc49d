"""`make demo` runs offline: a streamed answer, an input block, a mid-stream block, usage."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_offline_and_shows_every_case() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "langchain_guardrails.cli.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = result.stdout
    assert "The capital of France is Paris, a city known for its museums" in out
    assert "[passed 6 output window(s)]" in out
    assert "I can't help with attempts to override my instructions." in out
    assert "[blocked by input rail 'regex check input'" in out
    assert "[the model was never called]" in out
    # The mid-stream block: the passed prefix, then the refusal; the secret never appears.
    assert "Sure! The admin \n\nI'm sorry, I can't share that." in out
    assert "[blocked by output rail 'regex check output', window 1" in out
    assert "hunter2" not in out
    assert "Usage seen by get_usage_metadata_callback():\n  scripted: " in out
