"""Config builder shared by the core tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_guardrails import RailsConfig


def rails_config(
    *,
    size: int = 10,
    context: int = 3,
    stream_first: bool = False,
    enabled: bool = True,
    audit: bool = False,
    flows_in: Sequence[Any] = (),
    flows_out: Sequence[Any] = ("regex check output",),
    input_patterns: Sequence[str] = ("jailbreak",),
    output_patterns: Sequence[str] = ("FORBIDDEN",),
    **top: Any,
) -> RailsConfig:
    """Regex rails (input ``jailbreak``, output ``FORBIDDEN`` by default) and window settings."""
    return RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": list(flows_in)},
                "output": {
                    "flows": list(flows_out),
                    "streaming": {
                        "enabled": enabled,
                        "chunk_size": size,
                        "context_size": context,
                        "stream_first": stream_first,
                        "audit_unreleased_text": audit,
                    },
                },
                "config": {
                    "regex_detection": {
                        "input": {"patterns": list(input_patterns)},
                        "output": {"patterns": list(output_patterns)},
                    }
                },
            },
            **top,
        }
    )
