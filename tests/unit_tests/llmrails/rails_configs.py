"""Configs shared by the LLMRails tests: a scripted main model, regex rails on both sides."""

from __future__ import annotations

from typing import Any

from langchain_guardrails import RailsConfig

CAPITAL = "The capital of France is Paris."
SECRET = "The password is swordfish and more words follow here."
HELLO = "Hello there friend."


def config(
    *,
    streaming: bool = True,
    output_streaming: bool = True,
    stream_first: bool = True,
    exceptions: bool = False,
    models: bool = True,
    delay: float = 0.0,
    output_flows: list[Any] | None = None,
) -> RailsConfig:
    main = {
        "type": "main",
        "engine": "scripted",
        "parameters": {
            "model_name": "main-model",
            "delay": delay,
            "replies": [
                {"match": "capital", "reply": CAPITAL},
                {"match": "secret", "reply": SECRET},
            ],
            "default_reply": HELLO,
        },
    }
    return RailsConfig.from_content(
        config={
            "models": [main] if models else [],
            "streaming": streaming,
            "enable_rails_exceptions": exceptions,
            "rails": {
                "input": {"flows": ["regex check input"]},
                "output": {
                    "flows": output_flows if output_flows is not None else ["regex check output"],
                    "streaming": {
                        "enabled": output_streaming,
                        "chunk_size": 3,
                        "context_size": 1,
                        "stream_first": stream_first,
                    },
                },
                "config": {
                    "regex_detection": {
                        "input": {"patterns": ["hack"]},
                        "output": {"patterns": ["swordfish"]},
                    }
                },
            },
        }
    )


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
