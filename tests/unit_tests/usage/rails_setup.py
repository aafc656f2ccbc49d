"""Usage tests setup: a guarded fake model whose rails call a second (scripted) model."""

from __future__ import annotations

from typing import Any

from langchain_guardrails import Guardrails, RailsConfig, action
from langchain_guardrails.testing import FakeStreamingChatModel

MAIN_TEXT = "one two three four five six"
BLOCKED_TEXT = "one two three four five bad six seven eight nine ten"


@action(name="llm check")
async def llm_check(text: str, llms: Any) -> bool:
    """Asks the `guard` model about the text (one LLM call per rail run); blocks on "bad"."""
    await llms["guard"].ainvoke(f"check: {text}")
    return "bad" not in text


def config(*, stream_first: bool = False, audit: bool = False) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "models": [
                {
                    "type": "guard",
                    "engine": "scripted",
                    "parameters": {"model_name": "guard-model", "default_reply": "ok"},
                }
            ],
            "rails": {
                "input": {"flows": ["llm check"]},
                "output": {
                    "flows": ["llm check"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 3,
                        "context_size": 1,
                        "stream_first": stream_first,
                        "audit_unreleased_text": audit,
                    },
                },
            },
        }
    )


def guarded(text: str = MAIN_TEXT, **kwargs: Any) -> Guardrails:
    model = FakeStreamingChatModel(text=text, model_name="main-model")
    return Guardrails(llm=model, config=config(**kwargs), actions=[llm_check])
