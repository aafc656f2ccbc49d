"""LLMRails.generate / generate_async: return shapes, options and logs, actions, models."""

from __future__ import annotations

import re
from typing import Any

import pytest

from langchain_guardrails import LLMRails, RailsConfig, action
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.llm import register_engine
from langchain_guardrails.nemo.llmrails import GenerationOptions
from langchain_guardrails.observability.explain import GenerationResponse
from langchain_guardrails.testing import FakeOpenAIServer, FakeStreamingChatModel

from .rails_configs import CAPITAL, HELLO, config, user

REFUSAL = "I'm sorry, I can't respond to that."


def test_generate_returns_nemo_shapes() -> None:
    rails = LLMRails(config())
    assert rails.generate(messages=user("capital?")) == {"role": "assistant", "content": CAPITAL}
    assert rails.generate(prompt="capital?") == CAPITAL
    assert rails.generate(messages=user("tell me a secret")) == {
        "role": "assistant",
        "content": REFUSAL,
    }
    assert rails.generate(prompt="how to hack") == REFUSAL


async def test_generate_async_with_log_options() -> None:
    rails = LLMRails(config())
    response = await rails.generate_async(
        messages=user("capital?"), options={"log": {"llm_calls": True, "activated_rails": True}}
    )
    assert isinstance(response, GenerationResponse)
    assert response.response == [{"role": "assistant", "content": CAPITAL}]
    assert response.log is not None
    (call,) = response.log.llm_calls or []
    assert (call.task, call.rail, call.llm_model_name, call.model_name) == (
        "general",
        None,
        "main-model",
        "main-model",
    )
    assert (call.prompt, call.completion) == ("Human: capital?", CAPITAL)
    assert (call.prompt_tokens, call.completion_tokens, call.total_tokens) == (1, 6, 7)
    assert call.duration is not None and call.duration >= 0
    rails_run = [
        (r.rail, r.stage, r.decision, r.window, r.stop) for r in response.log.activated_rails
    ]
    assert rails_run == [
        ("regex check input", "input", "passed", None, False),
        ("regex check output", "output", "passed", 0, False),
        ("regex check output", "output", "passed", 1, False),
    ]
    assert all(r.duration >= 0 for r in response.log.activated_rails)
    assert (response.log.activated_rails[0].name, response.log.activated_rails[0].type) == (
        "regex check input",
        "input",
    )
    assert response.log.internal_events is None
    stats = response.log.stats
    assert (stats.llm_calls_count, stats.llm_calls_total_prompt_tokens) == (1, 1)
    assert (stats.llm_calls_total_completion_tokens, stats.llm_calls_total_tokens) == (6, 7)


def test_generate_log_of_a_blocked_call_and_internal_events() -> None:
    rails = LLMRails(config(stream_first=False))
    options = {"log": {"activated_rails": True, "internal_events": True}}
    response = rails.generate(prompt="a secret please", options=options)
    assert isinstance(response, GenerationResponse)
    assert response.response == REFUSAL
    assert response.log is not None
    assert response.log.llm_calls is None
    last = response.log.activated_rails[-1]
    assert (last.rail, last.decision, last.window, last.stop) == (
        "regex check output",
        "blocked",
        1,
        True,
    )
    types = [e["type"] for e in response.log.internal_events or []]
    assert types[:2] == ["guardrails.rail.started", "guardrails.rail.passed"]
    assert "guardrails.window.checked" in types and types[-1] == "guardrails.stream.ended"
    assert "swordfish" not in repr(response.log.internal_events)


def test_options_without_log_give_a_response_without_log() -> None:
    calls: list[dict[str, Any]] = []

    class Recording(FakeStreamingChatModel):
        async def _astream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Any:
            calls.append(kwargs)
            async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
                yield chunk

    rails = LLMRails(config(), llm=Recording(text="ok then"))
    response = rails.generate(
        messages=user("hi"), options=GenerationOptions(llm_params={"temperature": 0.2})
    )
    assert response == GenerationResponse(
        response=[{"role": "assistant", "content": "ok then"}], log=None
    )
    assert calls == [{"temperature": 0.2}]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"log": {"colang_history": True}},
            "options.log.colang_history: unknown option "
            "(known: activated_rails, llm_calls, internal_events)",
        ),
        ({"rails": ["input"]}, "options.rails: unknown option (known: log, llm_params)"),
        (
            {"log": {"llm_calls": "sometimes"}},
            "options.log.llm_calls: Input should be a valid boolean, unable to interpret input",
        ),
    ],
)
def test_bad_options_are_clear_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        LLMRails(config()).generate(messages=user("hi"), options=options)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "LLMRails needs exactly one of prompt=... or messages=..."),
        (
            {"prompt": "a", "messages": user("b")},
            ValueError,
            "LLMRails needs exactly one of prompt=... or messages=...",
        ),
        ({"prompt": ["a"]}, TypeError, "prompt must be a str; got list"),
        (
            {"messages": [{"role": "context", "content": {"x": 1}}, *user("hi")]},
            ValueError,
            "messages[0]: role 'context' (NeMo context variables) is not supported; use user, "
            "assistant, system or tool messages",
        ),
    ],
)
async def test_bad_inputs_are_clear_errors(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        await LLMRails(config()).generate_async(**kwargs)


def test_rails_exceptions_give_nemo_exception_messages() -> None:
    rails = LLMRails(config(exceptions=True, stream_first=False))
    assert rails.generate(messages=user("a secret")) == {
        "role": "exception",
        "content": {
            "type": "OutputRailException",
            "message": (
                "Output not allowed. The output was blocked by the 'regex check output' flow."
            ),
        },
    }
    assert rails.generate(messages=user("hack it"))["content"]["type"] == "InputRailException"  # type: ignore[index]


def test_actions_registered_after_construction_are_used_at_the_next_call() -> None:
    rails = LLMRails(config(output_flows=["no greetings"]))
    with pytest.raises(
        ConfigError,
        match=r"^rails\.output\.flows: unknown flow 'no greetings'; known flows: .*regex check",
    ):
        rails.generate(messages=user("hi"))

    def no_greetings(text: str) -> bool:
        return "Hello" not in text

    rails.register_action(no_greetings, name="no greetings")
    assert rails.generate(messages=user("hi")) == {"role": "assistant", "content": REFUSAL}
    assert rails.generate(messages=user("capital?")) == {"role": "assistant", "content": CAPITAL}
    assert not hasattr(no_greetings, "__guardrails_action__")  # the caller's function is untouched

    @action(name="no paris")
    async def no_paris(text: str) -> bool:
        return "Paris" not in text

    rails2 = LLMRails(config(output_flows=["no paris", "no greetings"]))
    rails2.register_action(no_paris)
    rails2.register_action(no_greetings)  # plain function: its name with spaces
    assert rails2.generate(prompt="capital?") == REFUSAL
    assert rails2.generate(prompt="hi") == REFUSAL


def test_main_model_comes_from_config_or_a_registered_engine() -> None:
    assert LLMRails(config()).generate(prompt="hi") == HELLO
    register_engine(
        "llmrails-test-engine", lambda cfg: FakeStreamingChatModel(text=f"{cfg.model} says hi")
    )
    engine_config = RailsConfig.from_content(
        config={"models": [{"type": "main", "engine": "llmrails-test-engine", "model": "m1"}]}
    )
    assert LLMRails(engine_config).generate(prompt="hi") == "m1 says hi"
    rails = LLMRails(engine_config, llm=FakeStreamingChatModel(text="given model"))
    assert rails.generate(prompt="hi") == "given model"
    rails.update_llm(FakeStreamingChatModel(text="updated"))
    assert rails.generate(prompt="hi") == "updated"


def test_without_a_model_calls_say_what_is_missing() -> None:
    rails = LLMRails(config(models=False))
    message = (
        "LLMRails needs a model: pass llm=..., add a `models` entry with `type: main`, or stream "
        "from your own tokens with stream_async(generator=...)"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        rails.generate(prompt="hi")


@pytest.mark.requires("langchain_openai")
def test_openai_engine_against_a_local_server() -> None:
    with FakeOpenAIServer({"gpt-test": ["Bonjour ", "tout ", "le ", "monde."]}) as server:
        cfg = RailsConfig.from_content(
            config={
                "models": [
                    {
                        "type": "main",
                        "engine": "openai",
                        "model": "gpt-test",
                        "parameters": {
                            "base_url": server.base_url,
                            "api_key": "test",
                            "max_retries": 0,
                        },
                    }
                ],
                "streaming": True,
            }
        )
        response = LLMRails(cfg).generate(
            prompt="say hello please", options={"log": {"llm_calls": True}}
        )
    assert isinstance(response, GenerationResponse)
    assert response.response == "Bonjour tout le monde."
    assert server.chat_requests()[0]["stream_options"] == {"include_usage": True}
    (call,) = response.log.llm_calls or []  # type: ignore[union-attr]
    assert (call.llm_model_name, call.prompt_tokens, call.completion_tokens, call.total_tokens) == (
        "gpt-test",
        3,
        4,
        7,
    )
