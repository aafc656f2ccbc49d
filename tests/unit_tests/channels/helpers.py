"""Shared configs and recorders of the channel tests."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from langchain_guardrails import RailsConfig

SECRET = "hunter2"


def config(
    *,
    stream_first: bool = False,
    size: int = 3,
    context: int = 2,
    reasoning: str = "check",
    tool_output: list[str] | None = None,
    tool_input: list[str] | None = None,
    output: list[str] | None = None,
    input_entities: list[str] | None = None,
) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": ["regex check output"] if output is None else output,
                    "reasoning": reasoning,
                    "streaming": {
                        "enabled": True,
                        "chunk_size": size,
                        "context_size": context,
                        "stream_first": stream_first,
                    },
                },
                "tool_output": {"flows": tool_output or []},
                "tool_input": {"flows": tool_input or []},
                "config": {
                    "regex_detection": {"output": {"patterns": [r"hunter\d"]}},
                    "sensitive_data_detection": {
                        "input": {"entities": input_entities or ["EMAIL_ADDRESS"]}
                    },
                },
            }
        }
    )


class EverythingRecorder(BaseCallbackHandler):
    """Records the arguments of every callback it gets (to search them for leaks)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            seen = object.__getattribute__(self, "seen")

            def record(*args: Any, **kwargs: Any) -> None:
                if name.endswith("_start"):
                    # ``serialized`` and ``invocation_params`` describe the model object (a
                    # fake's repr holds its script), not what it produced.
                    args = args[1:]
                    kwargs = {k: v for k, v in kwargs.items() if k != "invocation_params"}
                seen.append((name, args, kwargs))

            return record
        return object.__getattribute__(self, name)
