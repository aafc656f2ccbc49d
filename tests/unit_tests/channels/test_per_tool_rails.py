"""``rails.tool_output.per_tool`` / ``rails.tool_input.per_tool`` (NeMo's tool safety per tool):
a tool's rails run on that tool's calls and results only, beside the stage's ``flows``."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from langchain_guardrails import ConfigError, Guardrails, RailsConfig, action
from langchain_guardrails.rails import BUILTIN_RAILS
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn


@tool
def run_sql(query: str) -> str:
    """Run a SQL query."""
    return "rows"


@tool
def search(query: str) -> str:
    """Search the web."""
    return "results"


@action(name="no payroll")
def no_payroll(text: str) -> bool:
    return "payroll" not in text


def per_tool_config(**stages: Any) -> RailsConfig:
    return RailsConfig.from_content(config={"rails": stages})


def call(name: str, query: str) -> FakeTurn:
    return FakeTurn(text="", tool_calls=[{"name": name, "args": {"query": query}, "id": "c1"}])


@pytest.mark.parametrize(
    ("name", "blocked"),
    [("run_sql", True), ("search", False)],
)
async def test_a_per_tool_rail_checks_only_its_tools_calls(name: str, blocked: bool) -> None:
    cfg = per_tool_config(tool_output={"per_tool": {"run_sql": ["no payroll"]}})
    model = FakeToolCallingModel(turns=[call(name, "select * from payroll")])
    guarded = Guardrails(llm=model, config=cfg, actions=[no_payroll]).bind_tools([run_sql, search])
    message = await guarded.ainvoke("how much do we pay?")
    if blocked:
        meta = message.response_metadata["guardrails"]
        assert (message.content, message.tool_calls, meta["stage"], meta["rail"]) == (
            "I'm sorry, I can't respond to that.",
            [],
            "tool_output",
            "no payroll",
        )
    else:
        assert [c["args"] for c in message.tool_calls] == [{"query": "select * from payroll"}]


async def test_per_tool_rails_on_tool_results_and_beside_the_stage_flows() -> None:
    seen: list[tuple[str, str]] = []

    @action(name="log every result")
    def log_all(text: str, tool_call: dict[str, Any]) -> bool:
        seen.append((tool_call["name"], text))
        return True

    cfg = per_tool_config(
        tool_input={"flows": ["log every result"], "per_tool": {"run_sql": ["no payroll"]}}
    )
    model = FakeToolCallingModel(turns=[FakeTurn(text="ok")] * 2)
    guarded = Guardrails(llm=model, config=cfg, actions=[no_payroll, log_all])

    def history(name: str) -> list[Any]:
        return [
            HumanMessage("q"),
            AIMessage("", tool_calls=[{"name": name, "args": {"query": "x"}, "id": "t1"}]),
            ToolMessage(content="payroll: 10 rows", tool_call_id="t1"),
        ]

    assert (await guarded.ainvoke(history("search"))).content == "ok"
    blocked = await guarded.ainvoke(history("run_sql"))
    meta = blocked.response_metadata["guardrails"]
    assert (meta["stage"], meta["rail"]) == ("tool_input", "no payroll")
    assert seen == [("search", "payroll: 10 rows"), ("run_sql", "payroll: 10 rows")]


def test_an_unknown_per_tool_flow_is_a_clear_error() -> None:
    cfg = per_tool_config(tool_output={"per_tool": {"run_sql": ["no such rail"]}})
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=FakeToolCallingModel(turns=[]), config=cfg)
    assert str(error.value) == (
        "rails.tool_output.per_tool.run_sql: unknown flow 'no such rail'; known flows: "
        + ", ".join(sorted(BUILTIN_RAILS))
    )


def test_per_tool_must_map_tool_names_to_lists_of_flows() -> None:
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_content(
            yaml_content="rails:\n  tool_output:\n    per_tool:\n      run_sql: no payroll\n"
        )
    assert str(error.value) == (
        "<yaml_content>:4: rails.tool_output.per_tool.run_sql: Input should be a valid list "
        "(got 'no payroll')"
    )
