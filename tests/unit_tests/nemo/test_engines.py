"""Engines of NeMo configs: ``nim``, ``vllm_openai``, ``nvidia_ai_endpoints`` and
``init_chat_model`` providers; credentials are read at the first call, not at load."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.cli.main import main
from langchain_guardrails.config.rails_config import ModelConfig
from langchain_guardrails.llm import build_model, engines, registered_engines
from langchain_guardrails.llm.lazy import LazyChatModel
from langchain_guardrails.testing import FakeOpenAIServer, FakeStreamingChatModel

from .conftest import REFUSAL

pytestmark = pytest.mark.requires("langchain_openai")

MAIN = "meta/llama-3.3-70b-instruct"
GUARD = "nvidia/llama-3.1-nemoguard-8b-content-safety"


def config_of(**model: Any) -> RailsConfig:
    return RailsConfig.from_content(config={"models": [{"type": "main", **model}]})


async def test_nim_folder_runs_end_to_end_with_its_content_safety_model(
    server: FakeOpenAIServer, corpus: Callable[[str], Path]
) -> None:
    server.replies = {
        MAIN: ["Paris ", "is the ", "capital."],
        GUARD: ['{"User Safety": "safe", "Response Safety": "safe"}'],
    }
    server.rules = {GUARD: [("bomb", '{"User Safety": "unsafe", "Safety Categories": "S9"}')]}
    guarded = Guardrails(config=RailsConfig.from_path(corpus("engines_nim")))

    chunks = [c.text async for c in guarded.astream("What is the capital of France?")]
    assert "".join(chunks) == "Paris is the capital."
    guard_calls = server.chat_requests(GUARD)
    assert len(guard_calls) == 2  # input check, then the output window
    assert "user: What is the capital of France?" in guard_calls[0]["messages"][0]["content"]
    assert guard_calls[0]["max_completion_tokens"] == 50
    assert "response: agent: Paris is the capital." in guard_calls[1]["messages"][0]["content"]
    assert {r.authorization for r in server.requests} == {"Bearer EMPTY"}

    blocked = await guarded.ainvoke("How do I build a bomb?")
    assert blocked.content == REFUSAL
    assert blocked.response_metadata["guardrails"]["rail"] == (
        "content safety check input $model=content_safety"
    )
    assert len(server.chat_requests(MAIN)) == 1  # the blocked turn never reached the model


def test_vllm_openai_takes_nemo_parameter_names(
    server: FakeOpenAIServer, corpus: Callable[[str], Path]
) -> None:
    server.replies = {"my-vllm-model": ["Hi ", "there."]}
    server.rules = {"my-vllm-model": [("Should the user message be blocked", "No")]}
    guarded = Guardrails(config=RailsConfig.from_path(corpus("engines_vllm")))

    assert "".join(c.text for c in guarded.stream("Hello")) == "Hi there."
    assert guarded.invoke("Hello").content == "Hi there."
    bodies = server.chat_requests("my-vllm-model")
    assert {b["temperature"] for b in bodies} == {0}
    assert bodies[-1]["messages"] == [{"role": "user", "content": "Hello"}]


def test_nvidia_ai_endpoints_falls_back_to_chat_openai_with_a_warning(
    server: FakeOpenAIServer,
    corpus: Callable[[str], Path],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engines, "_installed", lambda module: False)
    server.replies = {"meta/llama-3.1-8b-instruct": ["Hello!"]}
    with caplog.at_level(logging.WARNING, logger="langchain_guardrails.llm"):
        guarded = Guardrails(config=RailsConfig.from_path(corpus("nvidia_endpoints")))
    assert caplog.messages == [
        "models[type=main]: langchain-nvidia-ai-endpoints is not installed; engine "
        "'nvidia_ai_endpoints' uses ChatOpenAI against the OpenAI-compatible endpoint "
        f"{server.base_url} (install langchain-nvidia-ai-endpoints for NVIDIA's own client)"
    ]
    assert guarded.invoke("Hi").content == "Hello!"


def test_nvidia_hosted_endpoint_needs_its_key_only_at_the_first_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engines, "_installed", lambda module: False)
    guarded = Guardrails(config=config_of(engine="nvidia_ai_endpoints", model="meta/llama"))
    with pytest.raises(ConfigError) as error:
        guarded.invoke("Hi")
    assert str(error.value) == (
        "models[type=main]: engine 'nvidia_ai_endpoints' at https://integrate.api.nvidia.com/v1 "
        "needs an API key: set NVIDIA_API_KEY (or name another variable with api_key_env_var)"
    )


def test_openai_credentials_are_read_at_the_first_call() -> None:
    guarded = Guardrails(config=config_of(engine="openai", model="gpt-4o-mini"))  # no key: fine
    with pytest.raises(ConfigError) as error:
        guarded.invoke("Hi")
    assert str(error.value).startswith(
        "models[type=main]: engine 'openai' could not build the model: "
    )


def test_an_unset_api_key_env_var_is_an_error_at_the_first_call(server: FakeOpenAIServer) -> None:
    config = config_of(
        engine="vllm_openai",
        model="m",
        api_key_env_var="MY_VLLM_KEY",
        parameters={"openai_api_base": server.base_url},
    )
    guarded = Guardrails(config=config)
    with pytest.raises(ConfigError) as error:
        guarded.invoke("Hi")
    assert str(error.value) == "models[type=main]: environment variable MY_VLLM_KEY is not set"
    assert server.requests == []


def test_api_key_env_var_is_sent_as_the_bearer_token(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_NIM_KEY", "nim-secret")
    server.replies = {"m": ["ok"]}
    config = config_of(
        engine="nim",
        model="m",
        api_key_env_var="MY_NIM_KEY",
        parameters={"base_url": server.base_url},
    )
    assert Guardrails(config=config).invoke("Hi").content == "ok"
    assert [r.authorization for r in server.requests] == ["Bearer nim-secret"]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"engine": "vllm_openai", "model": "m"},
            "models[type=main]: engine 'vllm_openai' needs parameters.openai_api_base (or "
            "base_url): the URL of the vLLM server, e.g. http://localhost:8000/v1",
        ),
        (
            {"engine": "nim", "parameters": {"base_url": "http://127.0.0.1:9/v1"}},
            "models[type=main]: engine 'nim' needs `model`",
        ),
        (
            {"engine": "anthropic", "model": "claude-sonnet"},
            "models[type=main]: engine 'anthropic' needs the package langchain-anthropic; "
            "install it with `pip install langchain-anthropic`",
        ),
        (
            {"engine": "ollama", "model": "llama3"},
            "models[type=main]: engine 'ollama' needs the package langchain-ollama; install it "
            "with `pip install langchain-ollama`",
        ),
    ],
)
def test_engine_config_errors_are_clear_at_load(
    model: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "_installed", lambda module: module == "langchain_openai")
    with pytest.raises(ConfigError) as error:
        Guardrails(config=config_of(**model))
    assert str(error.value) == message


def test_unknown_engines_list_the_nemo_engines_and_providers() -> None:
    with pytest.raises(ConfigError) as error:
        Guardrails(config=config_of(engine="nope"))
    text = str(error.value)
    assert text.startswith("models[type=main]: unknown engine 'nope'; known engines: ")
    known = text.split("known engines: ")[1].split(", ")
    assert {"nim", "vllm_openai", "nvidia_ai_endpoints", "anthropic", "ollama"} <= set(known)
    assert set(known) == set(registered_engines())


class ChatProvider(FakeStreamingChatModel):
    """Stands in for an installed provider package's chat class."""

    model: str = ""
    api_key: str | None = None


def test_an_installed_provider_is_built_lazily_with_model_and_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("langchain_fakeprovider")
    module.ChatProvider = ChatProvider  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain_fakeprovider", module)
    monkeypatch.setattr(
        engines, "providers", lambda: {"fakeprovider": ("langchain_fakeprovider", "ChatProvider")}
    )
    monkeypatch.setattr(engines, "_installed", lambda name: name == "langchain_fakeprovider")
    monkeypatch.setenv("FAKE_KEY", "k-1")
    entry = ModelConfig(
        type="main",
        engine="fakeprovider",
        model="big-model",
        api_key_env_var="FAKE_KEY",
        parameters={"text": "Hello from the provider"},
    )
    llm = build_model(entry)
    assert isinstance(llm, LazyChatModel)
    assert llm._clients == {}  # nothing built yet
    assert llm.invoke("Hi").content == "Hello from the provider"
    client = llm.client
    assert isinstance(client, ChatProvider)
    assert (client.model, client.api_key) == ("big-model", "k-1")


def test_stream_usage_reaches_a_copy_of_the_lazy_client(server: FakeOpenAIServer) -> None:
    server.replies = {"m": ["a", "b"]}
    llm = build_model(
        ModelConfig(type="main", engine="nim", model="m", parameters={"base_url": server.base_url})
    )
    guarded = Guardrails(llm=llm, config=RailsConfig.from_content())
    final = [c for c in guarded.stream("Hi")][-1]
    assert final.usage_metadata is not None and final.usage_metadata["output_tokens"] == 2
    assert server.chat_requests()[0]["stream_options"] == {"include_usage": True}
    assert llm.stream_usage is None  # the caller's object was not touched


def test_check_runs_without_any_provider_credentials(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "config.yml").write_text(
        "models: [{type: main, engine: openai, model: gpt-4o-mini}]\n"
        "rails:\n  input: {flows: [regex check input]}\n"
        "  config: {regex_detection: {input: {patterns: [secret]}}}\n",
        encoding="utf-8",
    )
    assert main(["check", "--config", str(tmp_path), "--input", "tell me a secret"]) == 1
    assert "status: blocked" in capsys.readouterr().out
