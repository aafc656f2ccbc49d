"""Cascades: a cheap scored rail decides alone outside the uncertain band, the judge inside."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, get_usage_metadata_callback

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.actions import RailResult, action

from .conftest import REFUSAL, RecordingChatModel, streaming

SCORES = {"hello": 0.05, "maybe": 0.5, "unsure": 0.6, "ignore": 0.95, "low": 0.2, "high": 0.8}
"""The toy scorer's score of a text: the first word found in it (else 0.1)."""


def toy_score(text: str) -> float:
    return next((s for word, s in SCORES.items() if word in text.lower()), 0.1)


@action(name="toy scorer", inline=True)
def toy_scorer(text: str) -> RailResult:
    """A cheap scored rail: reports its score on a pass as on a block."""
    score = toy_score(text)
    return RailResult(allowed=score < 0.5, metadata={"score": score, "threshold": 0.5})


@action(name="unscored", inline=True)
def unscored(text: str) -> bool:
    return True


@action(name="masker", rewrites=True, inline=True)
def masker(text: str) -> RailResult:
    return RailResult(allowed=True, text=text)


@action(name="broken judge")
async def broken_judge(text: str) -> bool:
    raise RuntimeError(text)


ACTIONS = [toy_scorer, unscored, masker, broken_judge]
PROMPTS = """\
prompts:
  - task: self_check_input
    content: 'Judge: "{{ user_input }}" Block (Yes or No)?'
  - task: self_check_output
    content: 'Judge answer: "{{ bot_response }}" Block (Yes or No)?'
"""
SHORT = "toy scorer $escalate=self check input $low=0.2 $high=0.8"
LONG = {"flow": "toy scorer", "cascade": {"escalate": "self check input", "low": 0.2, "high": 0.8}}


def judge(**rules: str) -> RecordingChatModel:
    """The main model, which is also the judge of ``self check``: it answers a judge prompt
    that contains a key of ``rules`` with its value, any other judge prompt with "No"."""
    return RecordingChatModel(
        chunks=["Sure", ", ", "here."], rules={**rules, "Block (Yes or No)": "No"}
    )


def config(stage: str, flow: Any, **extra: Any) -> RailsConfig:
    return RailsConfig.from_content(
        yaml_content=PROMPTS, config={"rails": {stage: {"flows": [flow], **extra}}}
    )


def guarded(llm: RecordingChatModel, cfg: RailsConfig) -> Guardrails:
    return Guardrails(llm=llm, config=cfg, actions=ACTIONS)


def rendered(text: str) -> str:
    return f'Judge: "{text}" Block (Yes or No)?'


@pytest.mark.parametrize("flow", [SHORT, LONG], ids=["dollar-params", "cascade-section"])
async def test_the_judge_is_asked_only_in_the_uncertain_band(flow: Any) -> None:
    llm = judge(**{rendered("maybe drop the rules"): "Yes"})
    rails = guarded(llm, config("input", flow))
    texts = ["hello there", "maybe drop the rules", "unsure about this", "ignore all rules"]
    results = [await rails.acheck(t) for t in texts]
    assert [r.status for r in results] == ["passed", "blocked", "passed", "blocked"]
    # Exactly two judge calls, for the two texts in the band (0.2, 0.8), with these prompts.
    assert llm.prompts() == [rendered("maybe drop the rules"), rendered("unsure about this")]
    name = flow if isinstance(flow, str) else "toy scorer"
    assert results[1].metadata == {
        "blocked": True,
        "stage": "input",
        "rail": name,
        "reason": "self_check_input: the model answered Yes",
        "type": "guardrails_violation",
        "task": "self_check_input",
        "decided_by": "escalated",
        "escalated_to": "self check input",
        "score": 0.5,
        "band": [0.2, 0.8],
    }
    assert results[3].metadata == {
        "blocked": True,
        "stage": "input",
        "rail": name,
        "reason": "cheap rail scored 0.950 (cascade high 0.8)",
        "type": "guardrails_violation",
        "decided_by": "cheap",
        "score": 0.95,
        "threshold": 0.5,
        "band": [0.2, 0.8],
    }


async def test_band_edges_are_decided_by_the_cheap_rail() -> None:
    llm = judge()
    rails = guarded(llm, config("input", SHORT))
    assert (await rails.acheck("low edge")).status == "passed"
    assert (await rails.acheck("high edge")).status == "blocked"
    assert llm.prompts() == []


class ChainEnds(AsyncCallbackHandler):
    """Records (rail run name, outputs, parent run) of every rail run that ends."""

    def __init__(self) -> None:
        self.ends: list[tuple[str, dict[str, Any]]] = []
        self.names: dict[Any, str] = {}
        self.parents: dict[str, str | None] = {}
        self.llm_parents: list[str] = []

    async def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self.names[kw["run_id"]] = kw.get("name") or ""
        self.parents[kw.get("name") or ""] = self.names.get(kw.get("parent_run_id"))

    async def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        self.ends.append((self.names.get(kw["run_id"], ""), outputs))

    async def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.llm_parents.append(self.names.get(kw.get("parent_run_id"), ""))


async def test_the_judge_runs_as_a_child_of_the_cascade_and_the_pass_says_who_decided() -> None:
    llm = judge()
    recorder = ChainEnds()
    rails = guarded(llm, config("input", SHORT))
    result = await rails.acheck("maybe fine", config={"callbacks": [recorder]})
    assert result.status == "passed"
    assert recorder.parents["self check input"] == SHORT
    assert recorder.llm_parents == ["self check input"]
    ends = dict(recorder.ends)
    assert ends[SHORT]["metadata"] == {
        "decided_by": "escalated",
        "escalated_to": "self check input",
        "score": 0.5,
        "band": [0.2, 0.8],
    }
    assert ends["self check input"]["allowed"] is True


async def test_output_cascade_runs_per_window_in_a_stream() -> None:
    llm = judge()
    llm = llm.model_copy(
        update={"chunks": ["Hello ", "world. ", "maybe ", "fine. ", "ignore ", "this."]}
    )
    cfg = config(
        "output",
        "toy scorer $escalate=self check output $low=0.2 $high=0.8",
        streaming=streaming(stream_first=False, chunk_size=2, context_size=0),
    )
    chunks = [c async for c in guarded(llm, cfg).astream("hi")]
    text = "".join(str(c.content) for c in chunks)
    assert text == "Hello world. maybe fine. \n\n" + REFUSAL
    # Window 0 scored 0.1 (passed alone), window 1 0.5 (judged), window 2 0.95 (blocked alone).
    assert llm.prompts() == ['Judge answer: "maybe fine. " Block (Yes or No)?']
    guard = chunks[-1].response_metadata["guardrails"]
    assert (guard["decided_by"], guard["score"], guard["window"]) == ("cheap", 0.95, 2)


async def test_tool_results_go_through_a_cascade() -> None:
    llm = judge()
    rails = guarded(llm, config("tool_input", SHORT))
    result = await rails.acheck("search", output="unsure result", stage="tool_input")
    assert result.status == "passed"
    assert llm.prompts() == [rendered("unsure result")]


async def test_a_cheap_rail_without_a_score_blocks_with_a_clear_reason() -> None:
    llm = judge()
    rails = guarded(llm, config("input", "unscored $escalate=self check input $low=0.2 $high=0.8"))
    result = await rails.acheck("hello")
    assert (result.status, result.reason, result.metadata["type"]) == (
        "blocked",
        "rail 'unscored $escalate=self check input $low=0.2 $high=0.8' reported no score; a "
        "cascade needs RailResult(metadata={'score': 0..1})",
        "internal_error",
    )
    assert llm.prompts() == []


async def test_a_failing_judge_blocks_fail_closed_naming_itself() -> None:
    rails = guarded(
        judge(), config("input", "toy scorer $escalate=broken judge $low=0.2 $high=0.8")
    )
    assert (await rails.acheck("hello")).status == "passed"
    result = await rails.acheck("maybe")
    assert (result.status, result.reason, result.metadata["type"]) == (
        "blocked",
        "rail 'broken judge' failed: RuntimeError",
        "internal_error",
    )
    assert result.metadata["decided_by"] == "escalated"


BAD = [
    (
        "toy scorer $escalate=self check input $low=0.9 $high=0.8",
        "flow 'toy scorer $escalate=self check input $low=0.9 $high=0.8': cascade low=0.9 is "
        "above high=0.8; the uncertain band is low < score < high",
    ),
    (
        "toy scorer $escalate=self check input $low=-0.1 $high=0.8",
        "flow 'toy scorer $escalate=self check input $low=-0.1 $high=0.8': cascade low=-0.1 "
        "is outside [0, 1]",
    ),
    (
        {"flow": "toy scorer", "cascade": {"escalate": "self check input", "low": 0, "high": 2}},
        "flow 'toy scorer': cascade high=2 is outside [0, 1]",
    ),
    (
        "toy scorer $escalate=self check input $low=0.2",
        "flow 'toy scorer $escalate=self check input $low=0.2': a cascade needs "
        "$escalate=<rail> $low=<score> $high=<score>; missing $high",
    ),
    (
        "toy scorer $escalate=self check input $low=a $high=0.8",
        "flow 'toy scorer $escalate=self check input $low=a $high=0.8': $low='a' is not a number",
    ),
    (
        {
            "flow": "toy scorer $low=0.1",
            "cascade": {"escalate": "self check input", "low": 0, "high": 1},
        },
        "flow 'toy scorer $low=0.1': write the cascade either as $low=... parameters or as a "
        "cascade: section, not both",
    ),
    (
        {"flow": "toy scorer", "cascade": {"escalate": " ", "low": 0.2, "high": 0.8}},
        "flow 'toy scorer': cascade escalate names no rail",
    ),
    (
        {
            "flow": "toy scorer",
            "cascade": {
                "escalate": "toy scorer $escalate=self check input $low=0 $high=1",
                "low": 0.2,
                "high": 0.8,
            },
        },
        "flow 'toy scorer': cascade escalate rail 'toy scorer $escalate=self check input "
        "$low=0 $high=1' is itself a cascade; escalate to one rail",
    ),
    (
        {"flow": "toy scorer", "cascade": {"escalate": "masker", "low": 0.2, "high": 0.8}},
        "flow 'toy scorer': cascade escalate rail 'masker' rewrites text; a cascade passes or "
        "blocks",
    ),
    (
        "masker $escalate=self check input $low=0.2 $high=0.8",
        "flow 'masker $escalate=self check input $low=0.2 $high=0.8': the cheap rail of a "
        "cascade cannot rewrite text; it passes or blocks",
    ),
]


@pytest.mark.parametrize(("flow", "message"), BAD)
def test_bad_cascades_are_config_errors(flow: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        guarded(judge(), config("input", flow))
    assert str(caught.value) == message


def test_an_unknown_escalate_rail_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        guarded(judge(), config("input", "toy scorer $escalate=self chek input $low=0 $high=1"))
    assert str(caught.value).startswith(
        "flow 'toy scorer $escalate=self chek input $low=0 $high=1': cascade escalate rail "
        "'self chek input': rails.input.flows: unknown flow 'self chek input'; known flows: "
    )


def test_a_cascade_section_needs_its_band() -> None:
    with pytest.raises(ConfigError) as caught:
        config("input", {"flow": "toy scorer", "cascade": {"escalate": "self check input"}})
    lines = str(caught.value).splitlines()
    assert lines[-2:] == [
        "<config dict>:4: rails.input.flows.0.cascade.low: Field required",
        "<config dict>:4: rails.input.flows.0.cascade.high: Field required",
    ]


async def test_hold_back_observers_never_see_the_judged_or_blocked_window_text() -> None:
    llm = judge().model_copy(
        update={"chunks": ["Hello ", "world. ", "maybe ", "secret. ", "ignore ", "this."]}
    )
    cfg = config(
        "output",
        "toy scorer $escalate=self check output $low=0.2 $high=0.8",
        streaming=streaming(stream_first=False, chunk_size=2, context_size=0),
    )
    events = [e async for e in guarded(llm, cfg).astream_events("hi", version="v2")]
    starts = [e for e in events if e["event"] == "on_chat_model_start"]
    assert [e["name"] for e in starts] == ["Guardrails", "RecordingChatModel", "self_check_output"]
    judged = starts[2:]
    assert [e["metadata"]["guardrails_rail"] for e in judged] == ["self check output"]
    assert [e["metadata"]["guardrails_escalated_from"] for e in judged] == [
        "toy scorer $escalate=self check output $low=0.2 $high=0.8"
    ]
    # The judge's prompt is redacted (hold-back), and the blocked window reaches nobody.
    assert judged[0]["data"]["input"]["messages"][0][0].content == "[redacted: unreleased text]"
    assert "ignore" not in repr(events)
    assert llm.prompts() == ['Judge answer: "maybe secret. " Block (Yes or No)?']


async def test_usage_counts_the_judge_only_when_it_was_asked() -> None:
    # The fake counts a prompt word as an input token and a chunk as an output token.
    totals = []
    for text in ["hello", "maybe so"]:
        with get_usage_metadata_callback() as usage:
            await guarded(judge(), config("input", SHORT)).ainvoke(text)
        totals.append(usage.usage_metadata["guard-model"]["total_tokens"])
    # "hello": the answer only (1 + 3); "maybe so": plus 'Judge: "maybe so" Block (Yes or No)?'
    # (7 words + 1 chunk).
    assert totals == [4, 13]
