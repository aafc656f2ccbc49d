"""The rail engine: resolution, parameters, injection, concurrency, fail-closed errors."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_guardrails import ConfigError, Guardrails, RailResult, RailsConfig, action
from langchain_guardrails.engine.rail_engine import parse_flow
from langchain_guardrails.testing import FakeStreamingChatModel


def guard(
    flows_in: list[Any] = (), flows_out: list[Any] = (), actions: list[Any] = (), **rails: Any
) -> Guardrails:  # type: ignore[assignment]
    config = RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": list(flows_in)},
                "output": {"flows": list(flows_out)},
                "config": {
                    "regex_detection": {
                        "input": {"patterns": ["bad"]},
                        "output": {"patterns": ["bad"]},
                    }
                },
                **rails,
            }
        }
    )
    return Guardrails(
        llm=FakeStreamingChatModel(text="fine answer"), config=config, actions=list(actions)
    )


def test_parse_flow_parameters() -> None:
    name, params, _ = parse_flow("content safety check output $model=content_safety $mode='strict'")
    assert name == "content safety check output"
    assert params == {"model": "content_safety", "mode": "strict"}


def test_parse_flow_bad_parameter() -> None:
    with pytest.raises(ConfigError, match=r"flow 'x \$oops': parameter 'oops' is not key=value"):
        parse_flow("x $oops")


def test_unknown_flow_lists_known_names() -> None:
    @action(name="mine")
    def mine(text: str) -> bool:
        return True

    with pytest.raises(ConfigError) as info:
        guard(flows_out=["self check outptu"], actions=[mine])
    message = str(info.value)
    assert message.startswith("rails.output.flows: unknown flow 'self check outptu'; known flows: ")
    known = message.split("known flows: ")[1].split(", ")
    assert known == sorted(known)
    assert {"mine", "regex check input", "regex check output"} <= set(known)


def test_regex_rail_without_patterns_is_a_config_error() -> None:
    config = RailsConfig.from_content(config={"rails": {"input": {"flows": ["regex check input"]}}})
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "'regex check input' needs patterns in rails.config.regex_detection.input.patterns"
        ),
    ):
        Guardrails(llm=FakeStreamingChatModel(text="x"), config=config)


def test_action_with_uninjectable_parameter() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "action 'f': parameter 'whatever' cannot be injected; known parameters: text, "
        ),
    ):

        @action
        def f(whatever: str) -> bool:
            return True


async def test_injection_of_every_parameter() -> None:
    seen: dict[str, Any] = {}

    @action(name="spy")
    async def spy(
        text: str,
        user_message: str,
        bot_message: str | None,
        messages: list[BaseMessage],
        params: dict[str, str],
        stage: str,
        config: RailsConfig,
        llm: Any,
    ) -> bool:
        seen.update(
            text=text,
            user_message=user_message,
            bot_message=bot_message,
            messages=[m.text for m in messages],
            params=params,
            stage=stage,
            config=config,
            llm=llm,
        )
        return True

    guarded = guard(flows_in=["spy $level=high"], actions=[spy])
    await guarded.ainvoke([("system", "be brief"), ("human", "hello there")])
    assert seen["text"] == "hello there"
    assert seen["user_message"] == "hello there"
    assert seen["bot_message"] is None
    assert seen["messages"] == ["be brief", "hello there"]
    assert seen["params"] == {"level": "high"}
    assert seen["stage"] == "input"
    assert seen["config"] is guarded.config
    assert (await seen["llm"].ainvoke("x")).content == "fine answer"


async def test_bool_and_railresult_results() -> None:
    @action(name="says no")
    def says_no(text: str) -> RailResult:
        return RailResult(allowed=False, reason="too rude", metadata={"categories": ["S1"]})

    message = await guard(flows_in=["says no"], actions=[says_no]).ainvoke("hi")
    assert message.response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "input",
        "rail": "says no",
        "reason": "too rude",
        "type": "guardrails_violation",
        "categories": ["S1"],
    }


async def test_first_block_wins_and_cancels_the_others() -> None:
    cancelled = asyncio.Event()

    @action(name="slow")
    async def slow(text: str) -> bool:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return True

    @action(name="quick no")
    async def quick_no(text: str) -> bool:
        await asyncio.sleep(0.01)
        return False

    message = await asyncio.wait_for(
        guard(flows_in=["slow", "quick no"], actions=[slow, quick_no]).ainvoke("hi"), 5
    )
    assert message.response_metadata["guardrails"]["rail"] == "quick no"
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_rails_of_a_stage_run_concurrently() -> None:
    running = 0
    peak = 0

    async def body() -> bool:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return True

    @action(name="a1")
    async def a1(text: str) -> bool:
        return await body()

    @action(name="a2")
    async def a2(text: str) -> bool:
        return await body()

    await guard(flows_in=["a1", "a2"], actions=[a1, a2]).ainvoke("hi")
    assert peak == 2


async def test_raising_rail_blocks_fail_closed_and_its_error_never_carries_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @action(name="broken")
    def broken(text: str) -> bool:
        # Ordinary exceptions quote their input: that text must reach the log only.
        raise ValueError(f"could not parse {text!r}")

    with caplog.at_level(logging.WARNING, logger="langchain_guardrails"):
        message = await guard(flows_in=["broken"], actions=[broken]).ainvoke("my PIN is 4411")
    assert message.response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "input",
        "rail": "broken",
        "reason": "rail 'broken' failed: ValueError",
        "type": "internal_error",
    }
    assert message.content == "I'm sorry, I can't respond to that."
    assert "4411" not in repr(message)
    (record,) = [r for r in caplog.records if r.name == "langchain_guardrails"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "rail 'broken' (input) failed: ValueError"
    # Type and frames only (issue 20 item 6): the message quotes the text under check.
    assert (record.exc_info, record.__dict__["exception_type"]) == (None, "ValueError")
    assert record.exc_text is not None and "ValueError: [message redacted]" in record.exc_text
    assert "4411" not in caplog.text


async def test_timeout_blocks_and_on_error_allow_opts_out() -> None:
    @action(name="sleepy")
    async def sleepy(text: str) -> bool:
        await asyncio.sleep(5)
        return True

    blocked = await guard(flows_in=[{"flow": "sleepy", "timeout": 0.05}], actions=[sleepy]).ainvoke(
        "hi"
    )
    assert (
        blocked.response_metadata["guardrails"]["reason"] == "rail 'sleepy' timed out after 0.05s"
    )
    assert blocked.response_metadata["guardrails"]["type"] == "internal_error"

    allowed = await guard(
        flows_in=[{"flow": "sleepy", "timeout": 0.05, "on_error": "allow"}], actions=[sleepy]
    ).ainvoke("hi")
    assert allowed.content == "fine answer"


async def test_global_timeout_setting() -> None:
    @action(name="sleepy")
    async def sleepy(text: str) -> bool:
        await asyncio.sleep(5)
        return True

    blocked = await guard(flows_in=["sleepy"], actions=[sleepy], timeout=0.05).ainvoke("hi")
    assert (
        blocked.response_metadata["guardrails"]["reason"] == "rail 'sleepy' timed out after 0.05s"
    )


async def test_sync_actions_run_off_the_event_loop() -> None:
    threads: list[str] = []

    @action(name="sync check")
    def sync_check(text: str) -> bool:
        threads.append(threading.current_thread().name)
        return True

    await guard(flows_in=["sync check"], actions=[sync_check]).ainvoke("hi")
    assert threads and threads[0] != threading.current_thread().name


async def test_undeclared_rewrite_fails_closed() -> None:
    @action(name="sneaky")
    def sneaky(text: str) -> RailResult:
        return RailResult(allowed=True, text="changed")

    message = await guard(flows_in=["sneaky"], actions=[sneaky]).ainvoke("hi")
    assert message.response_metadata["guardrails"]["reason"] == (
        "rail 'sneaky' returned a rewrite but is not declared @action(rewrites=True)"
    )


async def test_wrong_return_type_fails_closed() -> None:
    @action(name="vague")
    def vague(text: str) -> Any:
        return "yes"

    message = await guard(flows_in=["vague"], actions=[vague]).ainvoke("hi")
    assert message.response_metadata["guardrails"]["reason"] == (
        "rail 'vague' returned str; expected bool or RailResult"
    )


async def test_input_rewrite_reaches_the_model() -> None:
    received: list[str] = []

    class Recorder(FakeStreamingChatModel):
        def reply_chunks(self, messages: list[BaseMessage]) -> list[str]:
            received.append(messages[-1].text)
            return ["ok"]

    @action(name="mask names", rewrites=True)
    def mask(text: str) -> RailResult:
        return RailResult(allowed=True, text=text.replace("Alice", "<NAME>"))

    config = RailsConfig.from_content(config={"rails": {"input": {"flows": ["mask names"]}}})
    guarded = Guardrails(llm=Recorder(), config=config, actions=[mask])
    assert (await guarded.ainvoke("Hello, I am Alice")).content == "ok"
    assert received == ["Hello, I am <NAME>"]


def test_rewriting_output_rail_needs_hold_back() -> None:
    @action(name="mask", rewrites=True)
    def mask(text: str) -> RailResult:
        return RailResult(allowed=True, text=text)

    config = RailsConfig.from_content(
        config={
            "rails": {
                "output": {"flows": ["mask"], "streaming": {"enabled": True, "stream_first": True}}
            }
        }
    )
    with pytest.raises(ConfigError) as info:
        Guardrails(llm=FakeStreamingChatModel(text="x"), config=config, actions=[mask])
    assert str(info.value) == (
        "output rail 'mask' rewrites text, which needs hold-back mode: set "
        "rails.output.streaming.stream_first: false (text already released cannot be rewritten)"
    )


async def test_check_runs_only_the_rails() -> None:
    guarded = guard(flows_in=["regex check input"], flows_out=["regex check output"])
    assert (await guarded.acheck("all good")).status == "passed"
    blocked = await guarded.acheck("this is bad")
    assert (blocked.status, blocked.rail, blocked.content) == (
        "blocked",
        "regex check input",
        "I'm sorry, I can't respond to that.",
    )
    assert (await guarded.acheck("q", output="bad answer")).status == "blocked"
    assert guarded.check("q", output="good answer").status == "passed"
