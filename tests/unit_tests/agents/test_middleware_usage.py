"""Usage of the agent's model and of every LLM rail call reaches usage handlers; LLM rails in
the middleware's hooks use ``rail_model`` (or fail closed without one)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.messages import AIMessage

from langchain_guardrails import RailsConfig, action
from langchain_guardrails.agents.middleware import GuardrailsMiddleware
from langchain_guardrails.testing import FakeStreamingChatModel, FakeToolCallingModel, FakeTurn
from tests.unit_tests.agents.helpers import REFUSAL, Recorder, agent_config, call

JUDGE_CONFIG = {
    "models": [
        {
            "type": "guard",
            "engine": "scripted",
            "parameters": {"default_reply": "No", "stream_usage": True, "model_name": "judge"},
        }
    ],
    "rails": {
        "input": {"flows": ["judge"]},
        "output": {
            "flows": ["judge"],
            "streaming": {"enabled": True, "chunk_size": 2, "context_size": 1},
        },
        "tool_output": {"flows": ["judge"]},
        "tool_input": {"flows": ["judge"]},
    },
}
KEYS = ("input_tokens", "output_tokens", "total_tokens")


def judge_action(prompts: list[str], model: str = "llm") -> Any:
    @action(name="judge")
    async def judge(text: str, llm: Any, llms: dict[str, Any]) -> bool:
        prompt = f"Is this unsafe? {text}"
        prompts.append(prompt)
        reply = await (llm if model == "llm" else llms[model]).ainvoke(prompt)
        return "yes" not in reply.text.lower()

    return judge


@pytest.mark.parametrize("sync", [False, True])
async def test_usage_of_model_and_every_rail_call_reaches_the_handler(sync: bool) -> None:
    prompts: list[str] = []
    recorder = Recorder()
    model = FakeToolCallingModel(
        turns=[FakeTurn(text="Let me see.", tool_calls=[call("Paris")]), FakeTurn(text="Sunny.")]
    )
    config = RailsConfig.from_content(config=JUDGE_CONFIG)
    agent = create_agent(
        model=model,
        tools=[recorder.tool],
        middleware=[GuardrailsMiddleware(config=config, actions=[judge_action(prompts, "guard")])],
    )
    inputs = {"messages": [("user", "Weather in Paris?")]}
    with get_usage_metadata_callback() as usage:
        if sync:
            result = agent.invoke(inputs)
        else:
            result = await agent.ainvoke(inputs)

    assert result["messages"][-1].text == "Sunny."
    answers = [m for m in result["messages"] if isinstance(m, AIMessage) and m.usage_metadata]
    assert len(answers) == 2
    main = {key: sum(m.usage_metadata[key] for m in answers) for key in KEYS}  # type: ignore[index]
    inputs_ = sum(len(p.split()) for p in prompts)
    # The user turn, 2 + 1 windows of the answers, the tool call, the tool result.
    assert sorted(prompts) == sorted(
        f"Is this unsafe? {text}"
        for text in [
            "Weather in Paris?",
            "Let me ",
            "me see.",
            'lookup({"city": "Paris"})',
            "Paris: sunny, contact boss@corp.com",
            "Sunny.",
        ]
    )
    assert {k: usage.usage_metadata["fake-tool-model"][k] for k in KEYS} == main  # type: ignore[literal-required]
    assert {k: usage.usage_metadata["judge"][k] for k in KEYS} == {  # type: ignore[literal-required]
        "input_tokens": inputs_,
        "output_tokens": len(prompts),
        "total_tokens": inputs_ + len(prompts),
    }


async def test_llm_rail_in_a_hook_uses_rail_model() -> None:
    prompts: list[str] = []
    config = RailsConfig.from_content(config={"rails": {"input": {"flows": ["judge"]}}})
    model = FakeToolCallingModel(turns=[FakeTurn(text="never said")])
    judge = FakeStreamingChatModel(text="Yes", model_name="judge")
    middleware = GuardrailsMiddleware(
        config=config, actions=[judge_action(prompts)], rail_model=judge
    )
    result = await create_agent(model=model, middleware=[middleware]).ainvoke(
        {"messages": [("user", "Hi")]}
    )
    assert (model.stats.calls, judge.stats.calls) == (0, 1)
    assert prompts == ["Is this unsafe? Hi"]
    assert result["messages"][-1].response_metadata["guardrails"]["rail"] == "judge"


async def test_llm_rail_in_a_hook_without_a_model_fails_closed() -> None:
    prompts: list[str] = []
    config = RailsConfig.from_content(config={"rails": {"input": {"flows": ["judge"]}}})
    model = FakeToolCallingModel(turns=[FakeTurn(text="never said")])
    agent = create_agent(
        model=model,
        middleware=[GuardrailsMiddleware(config=config, actions=[judge_action(prompts)])],
    )
    result = await agent.ainvoke({"messages": [("user", "Hi")]})

    assert model.stats.calls == 0
    assert result["messages"][-1].text == REFUSAL
    assert result["messages"][-1].response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "input",
        "rail": "judge",
        "reason": "rail 'judge' failed: RuntimeError",
        "type": "internal_error",
    }


def test_usage_up_to_an_output_block_reaches_the_handler() -> None:
    model = FakeToolCallingModel(
        turns=[FakeTurn(text="Sure, the admin password is hunter2 so log in now please")]
    )
    agent = create_agent(model=model, middleware=[GuardrailsMiddleware(config=agent_config())])
    with get_usage_metadata_callback() as usage:
        result = agent.invoke({"messages": [("user", "Password please?")]})

    refusal = result["messages"][-1]
    assert refusal.text == "Sure, the \n\n" + REFUSAL  # as streamed: released, separator, refusal
    assert refusal.usage_metadata is not None
    assert refusal.usage_metadata["output_tokens"] >= 1
    assert usage.usage_metadata == {"fake-tool-model": refusal.usage_metadata}
