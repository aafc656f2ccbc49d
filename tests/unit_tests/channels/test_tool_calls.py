"""Tool calls the model emits (``rails.tool_output``) and tool results in the input
(``rails.tool_input``)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from langchain_guardrails import ConfigError, Guardrails, RailResult, action
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn

from .helpers import SECRET, EverythingRecorder, config


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return "sent"


def leaking_turn(body: str = f"the password is {SECRET}") -> FakeTurn:
    return FakeTurn(
        text="Sending it now.",
        tool_calls=[{"name": "send_email", "args": {"to": "a@b.c", "body": body}, "id": "c1"}],
    )


@pytest.mark.parametrize("stream_first", [True, False])
async def test_blocked_tool_call_is_never_released(stream_first: bool) -> None:
    model = FakeToolCallingModel(turns=[leaking_turn()])
    guarded = Guardrails(
        llm=model,
        config=config(stream_first=stream_first, tool_output=["regex check output"]),
    ).bind_tools([send_email])
    recorder = EverythingRecorder()
    chunks = [c async for c in guarded.astream("mail it", config={"callbacks": [recorder]})]
    assert all(not c.tool_call_chunks and not c.tool_calls for c in chunks)
    last = chunks[-1]
    assert last.content == "I'm sorry, I can't respond to that."
    assert last.response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "tool_output",
        "rail": "regex check output",
        "reason": r"matched pattern 'hunter\\d'",
        "type": "guardrails_violation",
    }
    assert SECRET not in repr(chunks)
    # No observer saw the call either (in both modes: a tool call is released whole or never).
    assert SECRET not in repr(recorder.seen)
    # The text follows its own window rules: stream_first released it all; hold-back released
    # what its passed window allowed (all but the last K units) before the call was checked.
    # Then rails.refusal.separator, before the refusal.
    text = "".join(c.text for c in chunks[:-1])
    assert text == ("Sending it now." if stream_first else "Sending ") + "\n\n"


@pytest.mark.parametrize("stream_first", [True, False])
async def test_passed_tool_call_is_released_whole_after_the_text(stream_first: bool) -> None:
    model = FakeToolCallingModel(turns=[leaking_turn("hello")])
    guarded = Guardrails(
        llm=model,
        config=config(stream_first=stream_first, tool_output=["regex check output"]),
    ).bind_tools([send_email])
    chunks = [c async for c in guarded.astream("mail it")]
    with_calls = [i for i, c in enumerate(chunks) if c.tool_call_chunks]
    assert len(with_calls) == 1  # one chunk, the whole call, not argument fragments
    (call,) = chunks[with_calls[0]].tool_call_chunks
    assert call["args"] == '{"to": "a@b.c", "body": "hello"}'
    assert all(not c.text for c in chunks[with_calls[0] :])
    message = await guarded.ainvoke("mail it")
    assert message.content == "Sending it now."
    assert message.tool_calls == [
        {
            "name": "send_email",
            "args": {"to": "a@b.c", "body": "hello"},
            "id": "c1",
            "type": "tool_call",
        }
    ]
    # bind_tools reached the wrapped model (the provider's own format).
    assert message.response_metadata["tools"] == ["send_email"]
    assert guarded.invoke("mail it").tool_calls == message.tool_calls


async def test_tool_output_rails_get_the_call_and_its_text() -> None:
    seen: list[tuple[str, Any]] = []

    @action(name="no external mail")
    def no_external_mail(text: str, tool_call: dict[str, Any]) -> RailResult:
        seen.append((text, tool_call))
        allowed = not tool_call["args"].get("to", "").endswith("@b.c")
        return RailResult(allowed=allowed, reason=None if allowed else "external recipient")

    model = FakeToolCallingModel(turns=[leaking_turn("hello")])
    guarded = Guardrails(
        llm=model,
        config=config(tool_output=["no external mail"]),
        actions=[no_external_mail],
    )
    message = await guarded.ainvoke("mail it")
    assert seen == [
        (
            'send_email({"to": "a@b.c", "body": "hello"})',
            {"name": "send_email", "args": {"to": "a@b.c", "body": "hello"}, "id": "c1"},
        )
    ]
    guard = message.response_metadata["guardrails"]
    assert (guard["stage"], guard["rail"], guard["reason"]) == (
        "tool_output",
        "no external mail",
        "external recipient",
    )


async def test_a_whole_message_with_tool_calls_is_gated_too() -> None:
    """A model that does not stream hands a whole ``AIMessage``: its calls are checked too."""

    from langchain_guardrails.streaming.tool_calls import gate_tool_calls

    async def source() -> Any:
        yield AIMessage(
            content="ok",
            tool_calls=[{"name": "send_email", "args": {"body": SECRET}, "id": "x"}],
        )

    async def check(text: str, call: Any) -> Any:
        from langchain_guardrails.engine.rail_engine import PASS, Decision

        return (Decision(allowed=False, rail="r") if SECRET in text else PASS), "tool_output"

    from langchain_guardrails.streaming.tool_calls import ToolCallBlocked

    out = []
    with pytest.raises(ToolCallBlocked):
        async for chunk in gate_tool_calls(source(), check):
            out.append(chunk)
    assert [c.content for c in out] == ["ok"] and not out[0].tool_call_chunks


def history(result: str) -> list[Any]:
    return [
        HumanMessage("weather in Paris?"),
        AIMessage(
            content="",
            tool_calls=[{"name": "lookup", "args": {"city": "Paris"}, "id": "t1"}],
        ),
        ToolMessage(content=result, tool_call_id="t1"),
    ]


async def test_blocked_tool_result_never_reaches_the_model() -> None:
    model = FakeToolCallingModel(turns=[FakeTurn(text="never")] * 3)
    guarded = Guardrails(llm=model, config=config(tool_input=["detect sensitive data on input"]))
    message = await guarded.ainvoke(history("contact boss@corp.com"))
    assert model.stats.calls == 0
    guard = message.response_metadata["guardrails"]
    assert (guard["stage"], guard["rail"], guard["reason"]) == (
        "tool_input",
        "detect sensitive data on input",
        "sensitive data found: EMAIL_ADDRESS",
    )
    assert message.content == "I'm sorry, I can't respond to that."


async def test_masked_tool_result_is_what_the_model_sees() -> None:
    seen: list[str] = []

    class Spy(FakeToolCallingModel):
        def turn(self, messages: list[Any]) -> FakeTurn:
            seen.append(messages[-1].content)
            return FakeTurn(text="done")

    caller = history("contact boss@corp.com")
    guarded = Guardrails(llm=Spy(), config=config(tool_input=["mask sensitive data on input"]))
    message = await guarded.ainvoke(caller)
    assert message.content == "done"
    assert seen == ["contact <EMAIL_ADDRESS>"]
    assert caller[-1].content == "contact boss@corp.com"  # the caller's message is untouched


async def test_tool_input_rails_get_the_call_the_result_answers() -> None:
    seen: list[Any] = []

    @action(name="spy")
    def spy(text: str, tool_call: dict[str, Any], stage: str) -> bool:
        seen.append((text, tool_call, stage))
        return True

    guarded = Guardrails(
        llm=FakeToolCallingModel(turns=[FakeTurn(text="ok")] * 3),
        config=config(tool_input=["spy"]),
        actions=[spy],
    )
    await guarded.ainvoke(history("sunny"))
    assert seen == [
        ("sunny", {"name": "lookup", "args": {"city": "Paris"}, "id": "t1"}, "tool_input")
    ]


@pytest.mark.parametrize(
    ("stage", "flow", "message"),
    [
        (
            "tool_output",
            "regex check input",
            "rails.tool_output.flows: built-in rail 'regex check input' cannot run on tool "
            "calls; built-in rails for this stage:",
        ),
        (
            "tool_input",
            "self check output",
            "rails.tool_input.flows: built-in rail 'self check output' cannot run on tool "
            "results; built-in rails for this stage:",
        ),
        (
            "tool_input",
            "self check facts",
            "rails.tool_input.flows: built-in rail 'self check facts' cannot run on tool results",
        ),
        (
            "tool_output",
            "mask sensitive data on output",
            "rails.tool_output.flows: built-in rail 'mask sensitive data on output' cannot run "
            "on tool calls",
        ),
    ],
)
def test_builtins_in_the_wrong_tool_stage_are_config_errors(
    stage: str, flow: str, message: str
) -> None:
    kwargs = {stage: [flow]}
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=FakeToolCallingModel(), config=config(**kwargs))  # type: ignore[arg-type]
    assert str(error.value).startswith(message)


def test_a_masking_action_cannot_guard_tool_calls() -> None:
    @action(name="rewrite calls", rewrites=True)
    def rewrite(text: str) -> RailResult:
        return RailResult(allowed=True, text=text)

    with pytest.raises(ConfigError) as error:
        Guardrails(
            llm=FakeToolCallingModel(),
            config=config(tool_output=["rewrite calls"]),
            actions=[rewrite],
        )
    assert str(error.value) == (
        "rails.tool_output.flows: 'rewrite calls' rewrites text; a tool call is released whole "
        "or not at all, so tool_output rails can only block"
    )


async def test_acheck_runs_the_tool_stages() -> None:
    guarded = Guardrails(
        llm=FakeToolCallingModel(),
        config=config(
            tool_output=["regex check output"], tool_input=["mask sensitive data on input"]
        ),
    )
    call = {"name": "send_email", "args": {"body": SECRET}, "id": "c1"}
    blocked = await guarded.acheck("q", stage="tool_output", tool_call=call)
    assert (blocked.status, blocked.metadata["stage"]) == ("blocked", "tool_output")
    masked = await guarded.acheck("q", stage="tool_input", output="mail x@y.org")
    assert (masked.status, masked.content) == ("modified", "mail <EMAIL_ADDRESS>")
    with pytest.raises(ValueError, match="needs tool_call"):
        await guarded.acheck("q", stage="tool_output")
