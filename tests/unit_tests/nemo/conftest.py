"""The NeMo-style config corpus (``configs/``), copied per test with the fake server's URLs."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langchain_guardrails.testing import FakeOpenAIServer

CORPUS = Path(__file__).parent / "configs"
REFUSAL = "I'm sorry, I can't respond to that."


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Credentials must not be needed before a model is called: none are set in these tests.
    for name in ("OPENAI_API_KEY", "NVIDIA_API_KEY", "JAILBREAK_NIM_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def corpus(tmp_path: Path, server: FakeOpenAIServer) -> Callable[[str], Path]:
    """Copy ``configs/<name>`` into ``tmp_path`` with ``@BASE_URL@`` / ``@URL@`` filled in."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(CORPUS / name, target)
        for path in target.rglob("*.yml"):
            text = path.read_text(encoding="utf-8")
            text = text.replace("@BASE_URL@", server.base_url).replace("@URL@", server.url)
            path.write_text(text, encoding="utf-8")
        return target

    return copy
