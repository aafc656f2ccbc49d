"""GuardrailsMiddleware with ``create_agent(response_format=...)`` and output rails only: a
blocked answer ends the run with the refusal, never with a structured response."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent
from langchain.agents.structured_output import ProviderStrategy, ToolStrategy
from pydantic import BaseModel

from langchain_guardrails import RailsConfig
from langchain_guardrails.agents.middleware import GuardrailsMiddleware
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn
from tests.unit_tests.agents.helpers import REFUSAL

OUTPUT_ONLY = {
    "rails": {
        "output": {"flows": ["regex check output"]},
        "config": {"regex_detection": {"output": {"patterns": ["hunter[0-9]"]}}},
    }
}


class Login(BaseModel):
    user: str
    password: str


def run(turn: FakeTurn, response_format: Any) -> tuple[dict[str, Any], FakeToolCallingModel]:
    model = FakeToolCallingModel(turns=[turn])
    agent = create_agent(
        model=model,
        response_format=response_format,
        middleware=[GuardrailsMiddleware(config=RailsConfig.from_content(config=OUTPUT_ONLY))],
    )
    return agent.invoke({"messages": [("user", "Ann's login?")]}), model


TOOL_TURN = FakeTurn(
    tool_calls=[{"name": "Login", "args": {"user": "ann", "password": "hunter2"}, "id": "s1"}]
)
JSON_TURN = FakeTurn(text='{"user": "ann", "password": "hunter2"}')


@pytest.mark.parametrize(
    ("turn", "response_format"),
    [(TOOL_TURN, ToolStrategy(Login)), (JSON_TURN, ProviderStrategy(Login))],
    ids=["ToolStrategy", "ProviderStrategy"],
)
def test_a_blocked_structured_answer_ends_with_the_refusal(
    turn: FakeTurn, response_format: Any
) -> None:
    result, model = run(turn, response_format)

    assert result.get("structured_response") is None
    assert [(m.type, m.text) for m in result["messages"]] == [
        ("human", "Ann's login?"),
        ("ai", REFUSAL),
    ]
    guard = result["messages"][-1].response_metadata["guardrails"]
    assert (guard["blocked"], guard["stage"], guard["rail"]) == (
        True,
        "output",
        "regex check output",
    )
    assert "hunter2" not in repr(result)
    assert model.stats.calls == 1


@pytest.mark.parametrize(
    ("turn", "response_format"),
    [
        (
            FakeTurn(
                tool_calls=[
                    {"name": "Login", "args": {"user": "ann", "password": "s3cret"}, "id": "s1"}
                ]
            ),
            ToolStrategy(Login),
        ),
        (FakeTurn(text='{"user": "ann", "password": "s3cret"}'), ProviderStrategy(Login)),
    ],
    ids=["ToolStrategy", "ProviderStrategy"],
)
def test_a_passed_structured_answer_is_parsed(turn: FakeTurn, response_format: Any) -> None:
    result, _ = run(turn, response_format)
    assert result["structured_response"] == Login(user="ann", password="s3cret")
