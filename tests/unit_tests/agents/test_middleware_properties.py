"""Containment through an agent: under hold-back, a blocked phrase that fits in K+1 units never
reaches the agent's ``messages`` stream, not even in part, however the model splits it."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

pytest.importorskip("langchain.agents")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.agents.middleware import GuardrailsMiddleware
from langchain_guardrails.testing import FakeStreamingChatModel
from tests.unit_tests.agents.helpers import all_text, assert_contained, streamed_text

PHRASE = "hunter2"
CONFIG = RailsConfig.from_content(
    config={
        "rails": {
            "output": {
                "flows": ["regex check output"],
                # K + 1 = 7 units: the phrase (7 characters) fits whatever the chunking.
                "streaming": {
                    "enabled": True,
                    "chunk_size": 8,
                    "context_size": 6,
                    "stream_first": False,
                },
            },
            "config": {"regex_detection": {"output": {"patterns": [PHRASE]}}},
        }
    }
)
FILLER = st.text(alphabet="ab .,", max_size=30)


@st.composite
def chunkings(draw: Any) -> tuple[str, list[str]]:
    text = draw(FILLER) + PHRASE + draw(FILLER)
    cuts = sorted(draw(st.sets(st.integers(1, len(text) - 1), max_size=len(text) - 1)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


async def streamed(agent: Any) -> list[tuple[Any, Any]]:
    return [
        event
        async for event in agent.astream(
            {"messages": [("user", "Tell me")]}, stream_mode="messages"
        )
    ]


@pytest.mark.parametrize("how", ["middleware", "guarded model"])
def test_blocked_phrase_never_reaches_the_messages_stream(how: str) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(chunkings())
    def check(case: tuple[str, list[str]]) -> None:
        text, chunks = case
        model = FakeStreamingChatModel(chunks=chunks)
        if how == "middleware":
            agent = create_agent(model=model, middleware=[GuardrailsMiddleware(config=CONFIG)])
        else:
            agent = create_agent(model=Guardrails(llm=model, config=CONFIG))
        events = asyncio.run(streamed(agent))

        (released,) = streamed_text(events).values()
        assert_contained(released, text, PHRASE)
        assert PHRASE not in all_text(message for message, _ in events)

    check()
