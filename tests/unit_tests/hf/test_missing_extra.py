"""Without the ``hf`` extra: an error naming it; ``import langchain_guardrails`` still works."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from langchain_guardrails import MissingExtraError
from langchain_guardrails.config.rails_config import ModelConfig
from langchain_guardrails.llm import build_model

MESSAGE = (
    "transformers is not installed; install it with `pip install 'langchain-stream-guardrails[hf]'`"
)


@pytest.fixture
def without_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith("langchain_guardrails.llm.providers.h"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail


@pytest.mark.usefixtures("without_transformers")
def test_importing_the_provider_names_the_extra() -> None:
    with pytest.raises(MissingExtraError) as info:
        importlib.import_module("langchain_guardrails.llm.providers.huggingface")
    assert str(info.value) == MESSAGE
    assert info.value.extra == "hf"


@pytest.mark.usefixtures("without_transformers")
def test_the_engine_names_the_extra() -> None:
    with pytest.raises(MissingExtraError) as info:
        build_model(ModelConfig(type="main", engine="huggingface_pipeline", model="./m"))
    assert str(info.value) == MESSAGE


@pytest.mark.usefixtures("without_transformers")
def test_wrapping_needs_no_transformers_for_other_models() -> None:
    from langchain_guardrails.llm.providers.hf_wrap import wrap_pipeline_llm
    from langchain_guardrails.testing import FakeStreamingChatModel

    fake = FakeStreamingChatModel(text="hi")
    assert wrap_pipeline_llm(fake) is fake


def test_the_package_does_not_import_transformers() -> None:
    code = (
        "import sys, langchain_guardrails, langchain_guardrails.llm, "
        "langchain_guardrails.llm.providers.hf_wrap; "
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
