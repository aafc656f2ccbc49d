"""Guardrails custom events: names, payloads, placement under the guarded run, no text, and
enough timing to draw a per-request timeline."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler

from langchain_guardrails import Guardrails, RailsConfig, action
from langchain_guardrails.observability.callback_handler import GuardrailsCallbackHandler
from langchain_guardrails.testing import FakeStreamingChatModel

from .rails_setup import BLOCKED_TEXT, guarded

SECRET = "zebra"


def regex_guarded(
    text: str,
    *,
    stream_first: bool,
    flows: list[Any] | None = None,
    actions: list[Any] | None = None,
) -> Guardrails:
    config = RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": ["regex check input"]},
                "output": {
                    "flows": flows or ["regex check output"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 3,
                        "context_size": 1,
                        "stream_first": stream_first,
                    },
                },
                "config": {
                    "regex_detection": {
                        "input": {"patterns": ["nope"]},
                        "output": {"patterns": ["bad"]},
                    }
                },
            }
        }
    )
    return Guardrails(llm=FakeStreamingChatModel(text=text), config=config, actions=actions or [])


async def custom_events(g: Guardrails, prompt: str) -> tuple[list[dict[str, Any]], str]:
    events = [e async for e in g.astream_events(prompt, version="v2")]
    return [e for e in events if e["event"] == "on_custom_event"], events[0]["run_id"]


@pytest.mark.parametrize("stream_first", [False, True])
async def test_events_appear_in_astream_events_under_the_guarded_run(stream_first: bool) -> None:
    guard = regex_guarded(BLOCKED_TEXT, stream_first=stream_first)
    events, root = await custom_events(guard, "hi")
    # Units received: how far the model got before the block stopped it (it depends on how the
    # event loop interleaves the check with the model's steps: read it off the model).
    received = guard.llm.stats.last_call_chunks  # type: ignore[union-attr]
    assert 7 <= received <= 9  # window 1 ends at unit 6; at most one window more
    assert {e["run_id"] for e in events} == {root}
    assert all(e["parent_ids"] == [] for e in events)
    rails = [
        (e["name"], e["data"]["stage"], e["data"]["window"])
        for e in events
        if ".rail." in e["name"]
    ]
    assert rails == [
        ("guardrails.rail.started", "input", None),
        ("guardrails.rail.passed", "input", None),
        ("guardrails.rail.started", "output", 0),
        ("guardrails.rail.passed", "output", 0),
        ("guardrails.rail.started", "output", 1),
        ("guardrails.rail.blocked", "output", 1),
    ]
    rail_tags = {tuple(e["tags"]) for e in events if ".rail." in e["name"]}
    assert rail_tags == {
        ("guardrails:rail", "guardrails:input", "nostream", "regex check input"),
        ("guardrails:rail", "guardrails:output", "nostream", "regex check output"),
    }
    windows = [
        (e["name"], e["data"].get("window"), e["data"].get("first_unit"), e["data"].get("end_unit"))
        for e in events
        if ".window." in e["name"] or ".stream." in e["name"]
    ]
    if stream_first:  # released as they arrive, including what came before the block was seen
        assert windows == [
            ("guardrails.stream.started", None, None, None),
            ("guardrails.window.started", 0, 0, 3),
            ("guardrails.window.released", 0, 0, 3),
            ("guardrails.window.checked", 0, None, None),
            ("guardrails.window.started", 1, 2, 6),
            ("guardrails.window.released", 1, 3, 6),
            ("guardrails.window.checked", 1, None, None),
            ("guardrails.window.released", None, 6, received),
            ("guardrails.stream.ended", None, 6, None),
        ]
    else:  # window 0 passed: units 0-1 released, unit 2 waits as context; window 1 blocked
        assert windows == [
            ("guardrails.stream.started", None, None, None),
            ("guardrails.window.started", 0, 0, 3),
            ("guardrails.window.checked", 0, None, None),
            ("guardrails.window.released", 0, 0, 2),
            ("guardrails.window.started", 1, 2, 6),
            ("guardrails.window.checked", 1, None, None),
            ("guardrails.stream.ended", None, 6, None),
        ]
    blocked = next(e["data"] for e in events if e["name"] == "guardrails.rail.blocked")
    assert set(blocked) == {
        "rail",
        "stage",
        "window",
        "started_at",
        "ended_at",
        "duration",
        "decision",
        "stop",
        "kind",
    }
    assert (blocked["decision"], blocked["stop"], blocked["kind"]) == (
        "blocked",
        True,
        "guardrails_violation",
    )
    assert blocked["duration"] == blocked["ended_at"] - blocked["started_at"] >= 0
    checked = [e["data"] for e in events if e["name"] == "guardrails.window.checked"]
    assert [(c["decision"], c.get("rail")) for c in checked] == [
        ("passed", None),
        ("blocked", "regex check output"),
    ]
    ended = next(e["data"] for e in events if e["name"] == "guardrails.stream.ended")
    # Hold-back races the model's next step against the check: the step in flight when the
    # block lands is dropped uncounted. Arrivals: every unit after the last window.
    assert (ended["windows"], ended["blocked"], len(ended["arrivals"])) == (2, True, received - 6)
    assert ended["units"] == received or (not stream_first and ended["units"] == received - 1)


@pytest.mark.parametrize("stream_first", [False, True])
async def test_payloads_never_hold_text(stream_first: bool) -> None:
    handler = GuardrailsCallbackHandler()
    text = f"one two three four five {SECRET} bad six seven"
    g = guarded(text, stream_first=stream_first)
    [c async for c in g.astream(f"tell me about {SECRET}", config={"callbacks": [handler]})]
    events = handler.summary().events
    assert len(events) > 10
    assert SECRET not in repr(events)
    assert all(
        isinstance(v, (str, int, float, bool, list, type(None))) for e in events for v in e.values()
    )


@pytest.mark.parametrize("stream_first", [False, True])
async def test_events_give_each_units_arrival_check_and_release_times(stream_first: bool) -> None:
    handler = GuardrailsCallbackHandler()
    text = " ".join(f"w{i}" for i in range(11))  # 11 units: windows [0,3) [2,6) [5,9) [8,11)
    g = regex_guarded(text, stream_first=stream_first)
    [c async for c in g.astream("hi", config={"callbacks": [handler]})]
    events = handler.summary().events

    arrival: dict[int, float] = {}
    release: dict[int, float] = {}
    windows: dict[int, tuple[int, int, float, float]] = {}
    started = {e["window"]: e for e in events if e["type"] == "guardrails.window.started"}
    for e in events:
        if e["type"] == "guardrails.window.started":
            arrival.update(
                zip(range(e["new_first_unit"], e["end_unit"]), e["arrivals"], strict=True)
            )
        elif e["type"] == "guardrails.window.checked":
            s = started[e["window"]]
            windows[e["window"]] = (s["first_unit"], s["end_unit"], e["started_at"], e["ended_at"])
        elif e["type"] == "guardrails.window.released":
            times = e.get("times") or [e["t"]] * (e["end_unit"] - e["first_unit"])
            release.update(zip(range(e["first_unit"], e["end_unit"]), times, strict=True))
    assert sorted(arrival) == sorted(release) == list(range(11))
    assert [(w[0], w[1]) for w in windows.values()] == [(0, 3), (2, 6), (5, 9), (8, 11)]
    assert list(arrival.values()) == sorted(arrival.values())
    for unit in range(11):
        assert release[unit] >= arrival[unit]
        if not stream_first:  # hold-back: released only after every window holding it passed
            for first, end, _, checked_end in windows.values():
                if first <= unit < end:
                    assert release[unit] >= checked_end
    for _, end, check_start, check_end in windows.values():
        assert check_start >= arrival[end - 1] and check_end >= check_start


async def test_error_and_cancelled_rails_are_reported() -> None:
    @action(name="broken")
    def broken(text: str) -> bool:
        raise RuntimeError(f"cannot check {text}")

    @action(name="blocker")
    async def blocker(text: str) -> bool:
        await asyncio.sleep(0.5)  # the others have started (and the broken one failed) by then
        return False

    @action(name="slow")
    async def slow(text: str) -> bool:
        await asyncio.sleep(5)
        return True

    flows: list[Any] = [{"flow": "broken", "on_error": "allow"}, "blocker", "slow"]
    g = regex_guarded("one two", stream_first=False, flows=flows, actions=[broken, blocker, slow])
    handler = GuardrailsCallbackHandler()
    out = await asyncio.wait_for(g.ainvoke("hi", config={"callbacks": [handler]}), timeout=10)
    assert out.response_metadata["guardrails"]["rail"] == "blocker"
    ends = {(r.rail, r.decision, r.stop) for r in handler.summary().rails if r.stage == "output"}
    assert ends == {
        ("broken", "error", False),
        ("blocker", "blocked", True),
        ("slow", "cancelled", False),
    }

    fail_closed = regex_guarded("one two", stream_first=False, flows=["broken"], actions=[broken])
    handler = GuardrailsCallbackHandler()
    out = await fail_closed.ainvoke("hi", config={"callbacks": [handler]})
    assert out.response_metadata["guardrails"]["type"] == "internal_error"
    assert [
        (r.rail, r.decision, r.stop) for r in handler.summary().rails if r.stage == "output"
    ] == [("broken", "error", True)]
    assert "cannot check" not in repr(handler.summary().events)


class LLMStarts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[tuple[list[str], dict[str, Any], str]] = []

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.starts.append((tags or [], metadata or {}, messages[0][0].text))


@pytest.mark.parametrize("audit", [False, True])
async def test_rail_llm_calls_are_tagged_with_the_rail_and_redacted_in_hold_back(
    audit: bool,
) -> None:
    recorder = LLMStarts()
    g = guarded(stream_first=False, audit=audit)
    [c async for c in g.astream("hello there", config={"callbacks": [recorder]})]
    rail_calls = [s for s in recorder.starts if "llm check" in s[0]]
    assert [
        (m["guardrails_rail"], m["guardrails_stage"], m.get("guardrails_window"))
        for _, m, _ in rail_calls
    ] == [
        ("llm check", "input", None),
        ("llm check", "output", 0),
        ("llm check", "output", 1),
    ]
    prompts = [p for _, _, p in rail_calls]
    if audit:
        assert prompts == [
            "check: hello there",
            "check: one two three ",
            "check: three four five six",
        ]
    else:  # the input was the user's own text; window text is unreleased when checked
        assert prompts == [
            "check: hello there",
            "[redacted: unreleased text]",
            "[redacted: unreleased text]",
        ]


async def test_async_handlers_receive_custom_events() -> None:
    names: list[str] = []

    class Names(AsyncCallbackHandler):
        async def on_custom_event(
            self, name: str, data: Any, *, run_id: UUID, **kwargs: Any
        ) -> None:
            names.append(name)

    await regex_guarded("one two", stream_first=True).ainvoke("hi", config={"callbacks": [Names()]})
    assert names[:2] == ["guardrails.rail.started", "guardrails.rail.passed"]
    assert names[-1] == "guardrails.stream.ended"


async def test_nothing_is_observed_without_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    import langchain_guardrails.engine.rail_engine as engine_module
    import langchain_guardrails.guard.pipeline as runnable_module

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("observability code ran with nobody listening")

    monkeypatch.setattr(runnable_module, "StreamEvents", forbidden)
    monkeypatch.setattr(engine_module, "RailEvents", forbidden)
    monkeypatch.setattr(engine_module, "rail_manager", forbidden)
    for stream_first in (False, True):
        out = [
            c async for c in regex_guarded(BLOCKED_TEXT, stream_first=stream_first).astream("hi")
        ]
        assert out[-1].response_metadata["guardrails"]["blocked"] is True


async def test_unit_ranges_follow_a_rewrite_that_carries_text_into_the_next_window() -> None:
    from langchain_guardrails.config.actions import RailResult

    @action(name="mask", rewrites=True)
    def mask(text: str) -> Any:
        masked = text.replace("c d", "###")
        return RailResult(allowed=True, text=masked) if masked != text else True

    g = regex_guarded("a b s e c d e f g h i", stream_first=False, flows=["mask"], actions=[mask])
    handler = GuardrailsCallbackHandler()
    out = [c.text async for c in g.astream("hi", config={"callbacks": [handler]})]
    assert "".join(out) == "a b s e ### e f g h i"
    events = handler.summary().events
    # Window 1 ("s e c d ") is rewritten up to its context unit: "c d " (units 4-5) is carried,
    # unreleased, into window 2, which therefore starts at unit 4.
    assert [
        (e["window"], e["first_unit"], e["end_unit"])
        for e in events
        if e["type"] == "guardrails.window.started"
    ] == [(0, 0, 3), (1, 2, 6), (2, 4, 9), (3, 8, 11)]
    assert [
        (e["first_unit"], e["end_unit"])
        for e in events
        if e["type"] == "guardrails.window.released"
    ] == [(0, 2), (2, 4), (4, 8), (8, 11)]
