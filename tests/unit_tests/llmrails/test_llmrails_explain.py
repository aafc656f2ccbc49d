"""explain(): the last call started in the current context, never accumulated or shared."""

from __future__ import annotations

import asyncio
import threading

from langchain_guardrails import LLMRails
from langchain_guardrails.observability.explain import ExplainInfo, LLMCallInfo

from .rails_configs import CAPITAL, HELLO, SECRET, config, user


def prompts(rails: LLMRails) -> list[str | None]:
    return [call.prompt for call in rails.explain().llm_calls]


def test_three_sequential_calls_each_replace_the_last() -> None:
    rails = LLMRails(config())
    assert rails.explain().llm_calls == []
    rails.generate(prompt="capital?")
    assert prompts(rails) == ["Human: capital?"]
    assert rails.explain().llm_calls[0].completion == CAPITAL
    rails.generate(messages=user("hi"))
    assert prompts(rails) == ["Human: hi"]
    rails.generate(prompt="how to hack")  # blocked by an input rail: no LLM call at all
    assert rails.explain().llm_calls == []
    assert [(r.rail, r.decision) for r in rails.explain().activated_rails] == [
        ("regex check input", "blocked")
    ]


async def test_two_concurrent_tasks_each_see_their_own_last_call() -> None:
    rails = LLMRails(config(delay=0.005))
    both_running = asyncio.Barrier(2)

    async def conversation(first: str, second: str) -> tuple[list[str | None], list[str | None]]:
        await both_running.wait()
        await rails.generate_async(prompt=first)
        after_first = prompts(rails)
        await asyncio.sleep(0)
        async for _ in rails.stream_async(prompt=second):
            pass
        return after_first, prompts(rails)

    a, b = await asyncio.gather(
        conversation("capital?", "tell me a secret"), conversation("hi", "capital please")
    )
    assert a == (["Human: capital?"], ["Human: tell me a secret"])
    assert b == (["Human: hi"], ["Human: capital please"])
    # Calls made in child tasks are not the parent's: it has made none.
    assert rails.explain().llm_calls == []


async def test_instances_never_share_explain_info() -> None:
    one, two = LLMRails(config()), LLMRails(config())
    await one.generate_async(prompt="capital?")
    assert prompts(one) == ["Human: capital?"]
    assert two.explain().llm_calls == []


def test_sync_calls_are_per_thread() -> None:
    rails = LLMRails(config())
    rails.generate(prompt="capital?")
    seen: list[list[str | None]] = []
    thread = threading.Thread(target=lambda: seen.append(prompts(rails)))
    thread.start()
    thread.join()
    assert seen == [[]]
    assert prompts(rails) == ["Human: capital?"]


async def test_explain_after_a_blocked_stream() -> None:
    rails = LLMRails(config(stream_first=False))
    async for _ in rails.stream_async(prompt="a secret"):
        pass
    (call,) = rails.explain().llm_calls
    assert call.stopped is True
    assert call.completion_tokens == 8  # units received before the block stopped the model
    assert SECRET not in repr(rails.explain())  # hold-back: unreleased text is redacted
    assert rails.explain().activated_rails[-1].decision == "blocked"


def test_print_llm_calls_summary(capsys: object) -> None:
    info = ExplainInfo(
        llm_calls=[
            LLMCallInfo(task="self_check_input", duration=0.314, total_tokens=180),
            LLMCallInfo(task="general", duration=0.5261, total_tokens=130),
        ]
    )
    info.print_llm_calls_summary()
    ExplainInfo().print_llm_calls_summary()
    assert capsys.readouterr().out == (  # type: ignore[attr-defined]
        "Summary: 2 LLM call(s) took 0.84 seconds and used 310 tokens.\n"
        "\n"
        "1. Task `self_check_input` took 0.31 seconds and used 180 tokens.\n"
        "2. Task `general` took 0.53 seconds and used 130 tokens.\n"
        "No LLM calls were made.\n"
    )


def test_summary_of_a_real_call_names_the_task() -> None:
    rails = LLMRails(config())
    rails.generate(prompt="hi")
    from langchain_guardrails.observability.explain import llm_calls_summary

    lines = llm_calls_summary(rails.explain().llm_calls).splitlines()
    assert lines[0].startswith("Summary: 1 LLM call(s) took ") and lines[0].endswith(
        f" seconds and used {1 + len(HELLO.split())} tokens."
    )
    assert lines[2].startswith("1. Task `general` took ")
