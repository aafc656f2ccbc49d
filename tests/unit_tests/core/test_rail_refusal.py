"""A rail's own refusal (``RailResult.refusal``): what the user gets when that rail blocks,
unless the flow sets its own ``refusal``."""

from __future__ import annotations

from langchain_guardrails import Guardrails, RailResult, RailsConfig, action
from langchain_guardrails.testing import FakeStreamingChatModel


@action(name="polite no")
def polite_no(text: str) -> RailResult:
    return RailResult(allowed="cake" not in text, reason="cake", refusal="No cake today, sorry.")


async def test_a_rails_own_refusal_replaces_the_stage_refusal() -> None:
    config = RailsConfig.from_content(
        config={"rails": {"input": {"flows": ["polite no"]}, "refusal": {"input": "Blocked."}}}
    )
    guarded = Guardrails(
        llm=FakeStreamingChatModel(text="Sure."), config=config, actions=[polite_no]
    )
    assert (await guarded.ainvoke("tea?")).content == "Sure."
    blocked = await guarded.ainvoke("cake?")
    assert (blocked.content, blocked.response_metadata["guardrails"]["reason"]) == (
        "No cake today, sorry.",
        "cake",
    )


async def test_the_flows_own_refusal_still_wins() -> None:
    config = RailsConfig.from_content(
        config={"rails": {"input": {"flows": [{"flow": "polite no", "refusal": "Flow says no."}]}}}
    )
    guarded = Guardrails(
        llm=FakeStreamingChatModel(text="Sure."), config=config, actions=[polite_no]
    )
    assert (await guarded.ainvoke("cake?")).content == "Flow says no."
